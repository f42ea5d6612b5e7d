#!/usr/bin/env bash
# The test bed (issue 13): smtpgen drives SMTP sessions through the gateway over vhost-user.
#
#   smtpgen port 0 (net_vhost0) ══ vhost0.sock ══ net_virtio_user0 [smtpgw inside 10.99.1.1]
#   smtpgen port 1 (net_vhost1) ══ vhost1.sock ══ net_virtio_user1 [smtpgw outside 10.99.2.1]
#
# smtpgen plays the clients (10.99.1.2..) on its port 0 and the server 10.99.2.2 on its port 1,
# with real TCP (tools/smtpgen/tcp_peer.h); both sides learn each other's MACs by ARP (no static
# neighbours). The gateway inspects every session with the shipped rules and its own
# enforcement; clean mail leaves from its normal pool 10.99.2.10. One session in ten carries
# GTUBE from a spam host of its own.
# Asserts:
#   1. smtpgen's report: every session ended with QUIT answered (or, after a deferral, with the
#      gateway's 421), every message was delivered once byte for byte, spam only from the
#      high-risk address 10.99.2.20 and clean mail never from it, spam on a normal flow deferred
#      and delivered when sent again (smtpgen exits 0 only then);
#   2. the gateway's counters at exit agree: a record per attempt, spam deferred and released as
#      smtpgen saw, nothing refused or throttled, a binding per session.
# --no-huge on both sides (DPDK 22.11 shares memfd memory over vhost-user): never skips.
# SGW_BED_SESSIONS / SGW_BED_CONCURRENCY / SGW_BED_MESSAGES / SGW_BED_SIZE size the run (a short
# one by default, for tools/check).
#
# Usage: smtpgen_bed.sh PATH/TO/smtpgw PATH/TO/smtpgen        (meson passes the built binaries)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../../tools/lib" && pwd)
# shellcheck source=../../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init smtpgen-bed

exe=${1:?usage: smtpgen_bed.sh PATH/TO/smtpgw PATH/TO/smtpgen}
gen=${2:?usage: smtpgen_bed.sh PATH/TO/smtpgw PATH/TO/smtpgen}
sessions=${SGW_BED_SESSIONS:-200}
concurrency=${SGW_BED_CONCURRENCY:-16}
messages=${SGW_BED_MESSAGES:-2}
size=${SGW_BED_SIZE:-5000}

id=$$
sgw_tmpdir
work=$SGW_TMP
gen_prefix="sgwb${id}-gen"
gw_prefix="sgwb${id}-gw"

# --- smtpgen: the vhost-user server side; it waits for both links --------------------------
genlog="$work/smtpgen.log"
sgw_on_failure sgw_log_tail "$genlog" 40
sgw_dpdk_forget_prefix "$gen_prefix"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" sgw_spawn "$genlog" "$gen" \
  -l 0 --no-huge -m 512 --file-prefix "$gen_prefix" --no-pci --log-level=4 \
  --vdev "net_vhost0,iface=$work/vhost0.sock,queues=1" \
  --vdev "net_vhost1,iface=$work/vhost1.sock,queues=1" \
  -- --sessions "$sessions" --concurrency "$concurrency" --messages "$messages" --size "$size" \
  --client-ip 10.99.1.2 --client-hosts 4 --inside-gateway 10.99.1.1 \
  --server-ip 10.99.2.2 --outside-gateway 10.99.2.1 --link-wait-s 90 --timeout-s 120 \
  --spam-per-mille 100 --high-risk-ip 10.99.2.20
gen_pid=$SGW_PID
sockets() { [[ -S $work/vhost0.sock && -S $work/vhost1.sock ]]; }
sgw_wait_until 60 "smtpgen's vhost-user sockets" sockets

# --- the gateway on net_virtio_user ports ------------------------------------------------------
cfg="$work/gateway.yaml"
gwlog="$work/gateway.log"
SGW_GWLOG=$gwlog  # sgw_counter reads the report there
cat >"$cfg" <<YAML
# Written by tests/integration/virtio/smtpgen_bed.sh.
eal:
  lcores: [0, 1]
  no_huge: true
  memory_mb: 512
  file_prefix: $gw_prefix
  devices:
    - net_virtio_user0,path=$work/vhost0.sock,queues=1
    - net_virtio_user1,path=$work/vhost1.sock,queues=1
ports:
  - { name: inside, device: net_virtio_user0, role: inside, address: 10.99.1.1/24 }
  - { name: outside, device: net_virtio_user1, role: outside, address: 10.99.2.1/24 }
smtp:
  ports: [25]
pools:
  normal: [10.99.2.10]
  high_risk: [10.99.2.20]
api: { enabled: false }
store: { enabled: false }
sender_domains: { check: false }   # inside.test has no MX here: the gateway would defer it
YAML
sgw_on_failure sgw_log_tail "$gwlog" 80
sgw_dpdk_forget_prefix "$gw_prefix"
sgw_gateway_start "$exe" "$cfg" "$gwlog"
gw_pid=$SGW_GW_PID

# --- (1) smtpgen runs to its end -------------------------------------------------------------
gen_ended() { ! sgw_alive "$gen_pid"; }
deadline=$((SECONDS + 240))
until gen_ended; do
  sgw_gateway_check_alive "$gw_pid" "$gwlog"
  ((SECONDS < deadline)) || sgw_fail "smtpgen did not finish within 240 s"
  sleep 0.5
done
rc=0
wait "$gen_pid" || rc=$?
report=$(grep -m1 '^{' "$genlog" || true)
[[ -n $report ]] || sgw_fail "smtpgen printed no report (exit $rc)"
sgw_log "smtpgen: $report"
((rc == 0)) || sgw_fail "(1) smtpgen found sessions or messages that did not arrive or were not decided as the policy says (exit $rc)"
field() { sgw_json_get "$report" "j['$1']"; }
want=$(field messages_expected)
spam=$(field spam_sent)
deferred=$(field spam_deferred)
((spam > 0 && deferred > 0)) || sgw_fail "(1) no spam was sent or none deferred: $report"
[[ $(field messages_delivered) == "$want" && $(field wrong_decisions) == 0 ]] ||
  sgw_fail "(1) smtpgen counts $(field messages_delivered) of $want delivered, $(field wrong_decisions) wrong decisions"

# --- (2) the gateway's own account -----------------------------------------------------------
sgw_gateway_stop "$gw_pid" "$gwlog"
[[ $(sgw_counter enforce_records) == $((want + deferred)) ]] ||
  sgw_fail "(2) the gateway recorded $(sgw_counter enforce_records) attempts, smtpgen made $((want + deferred))"
for want_counter in "enforce_spam_deferred=$deferred" "enforce_records_deferred=$deferred" \
  "enforce_spam_released=$spam" enforce_records_refused=0 enforce_records_throttled=0; do
  k=${want_counter%=*}
  [[ $(sgw_counter "$k") == "${want_counter#*=}" ]] ||
    sgw_fail "(2) gateway counter $k is $(sgw_counter "$k"), expected ${want_counter#*=}"
done
(( $(sgw_counter nat_high_risk) >= 1 )) || sgw_fail "(2) no binding on the high-risk address"
(( $(sgw_counter nat_created) >= sessions + deferred )) ||
  sgw_fail "(2) the gateway created $(sgw_counter nat_created) bindings for $sessions sessions"
sgw_log "gateway: enforce_records $(sgw_counter enforce_records), nat_created $(sgw_counter nat_created), rx_bytes $(sgw_counter rx_bytes)"
sgw_log "PASS: $sessions sessions, $want messages through the gateway over vhost-user, each delivered byte for byte; $spam spam only from the high-risk address ($deferred deferred first)"
