#!/usr/bin/env bash
# Virtio software mode: the gateway's two ports are net_virtio_user devices on vhost-user
# sockets served by a second DPDK process, dpdk-testpmd with two net_vhost ports.
#
#   testpmd port 0 (net_vhost0) ══ vhost0.sock ══ net_virtio_user0 [smtpgw inside 10.99.1.1]
#   testpmd port 1 (net_vhost1) ══ vhost1.sock ══ net_virtio_user1 [smtpgw outside 10.99.2.1]
#
# testpmd generates UDP 10.99.1.2 -> 10.99.2.2 on port 0, addressed to the gateway's inside MAC;
# the gateway routes it to its outside port, where the next hop 10.99.2.2 is a static neighbour
# (testpmd answers no ARP) with testpmd port 1's MAC; testpmd counts it received on port 1.
#
# testpmd's txonly engine never polls RX, so it could not count what arrives. The test runs
# testpmd in rxonly mode instead and generates with `start tx_first N` (N bursts through the
# txonly engine, then rxonly): that also sends on port 1, to a MAC that is not the gateway's,
# which a router must drop — assertion (5) checks that it does.
#
# Asserts:
#   1. the forwarded frames are routed, not bridged: on port 1 they carry the gateway's outside
#      MAC as source and the static neighbour's MAC as destination;
#   2. a nonzero number of packets crossed (64-byte and 1400-byte rounds);
#   3. the gateway received exactly what testpmd sent into its inside port (ethdev counters
#      via DPDK telemetry, once drained);
#   4. what testpmd received on each port is what the gateway says it sent there, and its own
#      "forwarded" counter (/smtpgw/counters) agrees (the gateway may have sent a few more
#      after testpmd stopped polling: at most 64 packets of slack);
#   5. nothing was hairpinned: port 1 did not receive more than port 0 sent;
#   6. on SIGINT the gateway prints its counters and exits 0.
# Never skips: DPDK 22.11 runs this pair with --no-huge on both sides (memfd-shared memory).
# SGW_VIRTIO_HUGE=1 runs both on hugepages instead (the virtio side then needs
# --single-file-segments so vhost can map its memory).
#
# Usage: virtio_forward.sh PATH/TO/smtpgw        (meson passes the built binary)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../../tools/lib" && pwd)
# shellcheck source=../../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init virtio

exe=${1:?usage: virtio_forward.sh PATH/TO/smtpgw}
testpmd=${SGW_TESTPMD:-$(command -v dpdk-testpmd || true)}
[[ -x $testpmd ]] || sgw_fail "dpdk-testpmd is not installed (Debian package 'dpdk'; tools/setup installs it)"

id=$$
sgw_tmpdir
work=$SGW_TMP
peer_prefix="sgwv${id}-peer"
gw_prefix="sgwv${id}-gw"
gw_in_mac=02:53:47:57:01:01
gw_out_mac=02:53:47:57:02:01
junk_mac=02:53:47:57:ff:fe   # port 1's tx_first destination: nobody's MAC
huge=${SGW_VIRTIO_HUGE:-0}
mem_args=(--no-huge -m 512)
((huge)) && mem_args=(-m 512)

# --- the vhost-user server: testpmd, driven through a FIFO -------------------------------------
fifo="$work/testpmd.in"
tplog="$work/testpmd.log"
mkfifo "$fifo"
# Opened read-write first, so neither side blocks in open(); held open, so testpmd sees EOF (and
# quits) only when we close it.
exec {tp_in}<>"$fifo"
sgw_defer eval "exec ${tp_in}>&-"
sgw_on_failure sgw_log_tail "$tplog" 60
sgw_dpdk_forget_prefix "$peer_prefix"
# Forwarding on lcore 0, the command line on lcore 1: the gateway's worker polls on lcore 1, so
# the two busy loops do not share a core on a two-core machine.
SGW_STDIN=$fifo sgw_spawn "$tplog" stdbuf -oL "$testpmd" -l 0,1 --main-lcore 1 "${mem_args[@]}" \
  --file-prefix "$peer_prefix" --no-pci \
  --vdev "net_vhost0,iface=$work/vhost0.sock,queues=1" \
  --vdev "net_vhost1,iface=$work/vhost1.sock,queues=1" \
  -- -i --total-num-mbufs=8192 --forward-mode=rxonly \
  --tx-ip=10.99.1.2,10.99.2.2 --tx-udp=5000,5001 \
  --eth-peer=0,"$gw_in_mac" --eth-peer=1,"$junk_mac"
tp_pid=$SGW_PID

tp_cmd() { printf '%s\n' "$*" >&"$tp_in"; }
tp_log_has() { grep -q -- "$1" "$tplog"; }
tp_alive() {
  sgw_alive "$tp_pid" || sgw_fail "dpdk-testpmd exited unexpectedly"
}
sgw_wait_until 60 "testpmd's prompt" tp_log_has 'testpmd> '
tp_alive
# The vhost PMD names its ports' MACs itself; read them back (they are the gateway's neighbours).
tp_mac() {  # PORT
  sed -n "s/^Port $1: \\([0-9A-Fa-f:]\\{17\\}\\)\$/\\1/p" "$tplog" | head -n 1
}
tp0_mac=$(tp_mac 0)
tp1_mac=$(tp_mac 1)
[[ -n $tp0_mac && -n $tp1_mac ]] || sgw_fail "could not read testpmd's port MACs from its log"
sgw_log "testpmd (vhost-user server) up: port 0 $tp0_mac, port 1 $tp1_mac"

# --- the gateway on net_virtio_user ports ------------------------------------------------------
cfg="$work/gateway.yaml"
gwlog="$work/gateway.log"
extra="[]"
((huge)) && extra="[--single-file-segments]"
cat >"$cfg" <<EOF
# Written by tests/integration/virtio/virtio_forward.sh.
eal:
  lcores: [0, 1]
  no_huge: $( ((huge)) && echo false || echo true)
  memory_mb: 512
  file_prefix: $gw_prefix
  devices:
    - net_virtio_user0,path=$work/vhost0.sock,queues=1
    - net_virtio_user1,path=$work/vhost1.sock,queues=1
  extra_args: $extra
ports:
  - name: inside
    device: net_virtio_user0
    role: inside
    address: 10.99.1.1/24
    mac: "$gw_in_mac"
  - name: outside
    device: net_virtio_user1
    role: outside
    address: 10.99.2.1/24
    mac: "$gw_out_mac"
neighbors:
  - {address: 10.99.1.2, mac: "$tp0_mac", port: inside}
  - {address: 10.99.2.2, mac: "$tp1_mac", port: outside}
smtp:
  ports: [25]
  other_traffic: forward
pools:
  normal: [10.99.2.10]
  high_risk: []
EOF
sgw_on_failure sgw_log_tail "$gwlog" 80
sgw_dpdk_forget_prefix "$gw_prefix"
sgw_gateway_start "$exe" "$cfg" "$gwlog"
gw_pid=$SGW_GW_PID

both_ready() {
  [[ $(grep -c 'vhost[01].sock) virtio is now ready for processing' "$tplog") -ge 2 ]]
}
deadline=$((SECONDS + 90))
until both_ready; do
  sgw_gateway_check_alive "$gw_pid" "$gwlog"
  tp_alive
  ((SECONDS < deadline)) || sgw_fail "the gateway's virtio ports did not connect to testpmd within 90s"
  sleep 0.2
done
sgw_log "both virtio-user ports connected to the vhost-user server"

# The gateway's own view: ethdev counters over DPDK telemetry (standard /ethdev/stats), by the
# port's device name, so the test does not depend on the gateway's port numbering.
gw_port_id() {  # DEVICE_NAME
  local n info
  for n in 0 1 2 3; do
    info=$(sgw_telemetry "$gw_prefix" "/ethdev/info,$n") || continue
    [[ $info == *"\"name\": \"$1\""* ]] && { echo "$n"; return 0; }
  done
  return 1
}
sgw_wait_until 60 "the gateway's telemetry socket" gw_port_id net_virtio_user0
gw_in_port=$(gw_port_id net_virtio_user0)
gw_out_port=$(gw_port_id net_virtio_user1) || sgw_fail "no telemetry port for net_virtio_user1"
gw_stat() {  # PORT FIELD
  local j
  j=$(sgw_telemetry "$gw_prefix" "/ethdev/stats,$1")
  [[ -n $j ]] || { echo -1; return; }
  sgw_json_get "$j" "j['/ethdev/stats']['$2']"
}

# testpmd's port counters from `show port stats all` (the newest block in its log).
tp_stats() {
  local before
  before=$(grep -c 'NIC statistics for port 1' "$tplog" || true)
  tp_cmd "show port stats all"
  sgw_wait_until 20 "testpmd's port statistics" \
    bash -c '(( $(grep -c "NIC statistics for port 1" "$1") > $2 )) && grep -q "Tx-bps" <(tac "$1" | head -n 30)' _ "$tplog" "$before"
  # The newest "port 0" block and the "port 1" block after it.
  local from
  from=$(grep -n 'NIC statistics for port 0' "$tplog" | tail -n 1 | cut -d: -f1)
  tail -n "+$from" "$tplog" | awk '
    /NIC statistics for port/ { port = $6 }
    /RX-packets:/ && !((port, "rx") in v) { v[port, "rx"] = $2 }
    /TX-packets:/ && !((port, "tx") in v) { v[port, "tx"] = $2 }
    END { printf "%s %s %s %s\n", v[0, "tx"], v[0, "rx"], v[1, "tx"], v[1, "rx"] }'
}

# --- (1) one verbose burst: are the frames routed? -----------------------------------------
tp_cmd "set verbose 1"
tp_cmd "start tx_first 1"
sgw_wait_until 30 "a packet to cross the gateway to port 1" \
  grep -q "port 1/queue 0: received" "$tplog"
tp_cmd "stop"
tp_cmd "set verbose 0"
line=$(grep -A1 "port 1/queue 0: received" "$tplog" | grep -m1 'src=') ||
  sgw_fail "testpmd printed no packet details for port 1"
src=$(sed -n 's/.*src=\([0-9A-Fa-f:]*\).*/\1/p' <<<"$line" | tr 'A-F' 'a-f')
dst=$(sed -n 's/.*dst=\([0-9A-Fa-f:]*\).*/\1/p' <<<"$line" | tr 'A-F' 'a-f')
want_dst=$(tr 'A-F' 'a-f' <<<"$tp1_mac")
[[ $src == "$gw_out_mac" && $dst == "$want_dst" ]] ||
  sgw_fail "forwarded frame has src=$src dst=$dst; expected src=$gw_out_mac (gateway outside) dst=$want_dst (static neighbour)"
sgw_log "(1) forwarded frames are rewritten: src=$src (gateway) dst=$dst (neighbour 10.99.2.2)"

# --- (2) volume: 64-byte and 1400-byte rounds ----------------------------------------------
# Rounds of 6 bursts (192 packets): less than a virtio ring (256), so a gateway that keeps up
# loses nothing even though tx_first sends before rxonly starts draining port 1.
for len in 64 1400; do
  tp_cmd "set txpkts $len"
  for _ in 1 2 3 4 5 6 7 8; do
    tp_cmd "start tx_first 6"
    sleep 0.5
    tp_cmd "stop"
  done
  tp_alive
  sgw_gateway_check_alive "$gw_pid" "$gwlog"
done
# Let the gateway drain its inside ring, then compare (3): gateway RX == testpmd port 0 TX.
read -r tp0_tx tp0_rx tp1_tx tp1_rx < <(tp_stats)
sgw_log "testpmd: port 0 sent $tp0_tx received $tp0_rx; port 1 sent $tp1_tx received $tp1_rx"
[[ $tp0_tx =~ ^[0-9]+$ && $tp1_rx =~ ^[0-9]+$ ]] || sgw_fail "could not parse testpmd's port statistics"
gw_in_rx_ok() { [[ $(gw_stat "$gw_in_port" ipackets) == "$tp0_tx" ]]; }
if ! sgw_poll 15 gw_in_rx_ok; then
  sgw_fail "(3) the gateway's inside port received $(gw_stat "$gw_in_port" ipackets) packets; testpmd sent it $tp0_tx"
fi
gw_in_rx=$(gw_stat "$gw_in_port" ipackets)
gw_in_tx=$(gw_stat "$gw_in_port" opackets)
gw_out_rx=$(gw_stat "$gw_out_port" ipackets)
gw_out_tx=$(gw_stat "$gw_out_port" opackets)
sgw_log "gateway ethdev: inside rx $gw_in_rx tx $gw_in_tx; outside rx $gw_out_rx tx $gw_out_tx"

((tp1_rx > 0)) || sgw_fail "(2) no packet crossed the gateway (testpmd port 1 received 0)"
sgw_log "(2) $tp1_rx packets crossed the gateway (of $tp0_tx sent; $((tp1_rx * 100 / (tp0_tx > 0 ? tp0_tx : 1)))%)"
sgw_log "(3) gateway inside RX $gw_in_rx == testpmd port 0 TX $tp0_tx"
slack=64
((gw_out_tx >= tp1_rx && gw_out_tx <= tp1_rx + slack)) ||
  sgw_fail "(4) testpmd received $tp1_rx on port 1 but the gateway counts $gw_out_tx sent on its outside port"
((gw_in_tx >= tp0_rx && gw_in_tx <= tp0_rx + slack)) ||
  sgw_fail "(4) testpmd received $tp0_rx on port 0 but the gateway counts $gw_in_tx sent on its inside port"
sgw_log "(4) counters agree: outside TX $gw_out_tx ~ port 1 RX $tp1_rx; inside TX $gw_in_tx ~ port 0 RX $tp0_rx"
# The gateway's own dataplane counters (its /smtpgw/counters telemetry command) tell the same
# story: every packet that crossed was routed, and port 1's frames to $junk_mac were refused.
counters=$(sgw_telemetry "$gw_prefix" /smtpgw/counters)
[[ -n $counters ]] || sgw_fail "(4) the gateway answers no /smtpgw/counters telemetry command"
gw_forwarded=$(sgw_json_get "$counters" "j['/smtpgw/counters'].get('forwarded', -1)")
gw_not_for_us=$(sgw_json_get "$counters" "j['/smtpgw/counters'].get('not_for_us', -1)")
((gw_forwarded >= tp1_rx && gw_forwarded <= tp1_rx + slack)) ||
  sgw_fail "(4) the gateway counts $gw_forwarded packets forwarded; testpmd received $tp1_rx on port 1"
sgw_log "(4) gateway counters: forwarded $gw_forwarded, not_for_us $gw_not_for_us (port 1 sent $tp1_tx to $junk_mac)"
((tp1_rx <= tp0_tx + slack)) ||
  sgw_fail "(5) port 1 received $tp1_rx > the $tp0_tx port 0 sent: frames not addressed to the gateway were forwarded"
((tp0_rx <= slack)) ||
  sgw_fail "(5) port 0 received $tp0_rx packets: the gateway forwarded frames addressed to $junk_mac"
sgw_log "(5) frames to $junk_mac on the outside were not forwarded (port 0 received $tp0_rx)"

# --- (6) clean shutdown, gateway first (it is the vhost-user client) --------------------------
sgw_gateway_stop "$gw_pid" "$gwlog"
sgw_log "gateway counters at exit:"
sed -n '/stopped/,$p' "$gwlog" | sed 's/^/  | /' >&2
tp_cmd "quit"
sgw_stop_pid "$tp_pid" TERM 20
sgw_log "PASS: $tp1_rx packets crossed the gateway over virtio-user/vhost-user"
