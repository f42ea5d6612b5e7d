#!/usr/bin/env bash
# End-to-end: real mail from a real client, through the real gateway, to a real server.
#
# The bed is tools/lib/gateway.sh's sgw_bed_up: swaks in one namespace, aiosmtpd in another,
# joined only through the gateway's net_tap ports.
# Asserts:
#   1. the gateway answers ARP for its inside and outside addresses and every pool address;
#   2. three messages (small, medium, several hundred KB, with dot-stuffed lines) are accepted
#      by the server and arrive byte-for-byte (sha256 and size of the DATA equal what was sent);
#   3. the server saw a normal-pool address as the client, never the inside host 10.99.1.2, and
#      the same one for all three (rendezvous hashing keeps a host on its address);
#   4. on SIGINT the gateway prints its counters and exits 0.
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_smtp.sh PATH/TO/smtpgw        (meson passes the built binary)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e

exe=${1:?usage: e2e_smtp.sh PATH/TO/smtpgw}
sgw_require_netns
sgw_bed_up "$exe"
id=$$
ns_in=$SGW_NS_IN
ns_out=$SGW_NS_OUT
work=$SGW_WORK
gwlog=$SGW_GWLOG
record=$SGW_RECORD
sink_pid=$SGW_SINK_PID

# (1) ARP: a neighbour entry with a link-layer address means the gateway answered. The UDP
# datagram (bash's /dev/udp, to the discard port) only makes the kernel resolve the address;
# what the gateway does with the datagram itself is not asserted here.
arp_answered() {  # NS ADDRESS
  ip netns exec "$1" bash -c 'echo probe >"/dev/udp/$1/9"' _ "$2" >/dev/null 2>&1 || true
  ip -n "$1" neigh show "$2" | grep -q lladdr
}
sgw_wait_until 30 "the gateway to answer ARP for $SGW_NET_INSIDE_GW (inside)" \
  arp_answered "$ns_in" "$SGW_NET_INSIDE_GW"
for addr in "$SGW_NET_OUTSIDE_GW" "${SGW_POOL_NORMAL[@]}" "${SGW_POOL_HIGH_RISK[@]}"; do
  sgw_wait_until 30 "the gateway to answer ARP for $addr (outside)" arp_answered "$ns_out" "$addr"
done
sgw_log "ARP answered for $SGW_NET_INSIDE_GW, $SGW_NET_OUTSIDE_GW and the pool addresses"
sgw_gateway_check_alive "$SGW_GW_PID" "$gwlog"

# --- three messages from the inside ----------------------------------------------------------
sizes=(700 40000 450000)
expected="$work/expected.txt"
: >"$expected"
for i in 0 1 2; do
  subject="e2e-${id}-msg$((i + 1))"
  msg="$work/msg$((i + 1)).eml"
  read -r sha size < <("$SGW_PYTHON" "$SGW_LIB/mkmsg.py" --size "${sizes[i]}" --subject "$subject" \
    --seed "$((i + 1))" --out "$msg")
  [[ ${#sha} -eq 64 ]] || sgw_fail "tools/lib/mkmsg.py could not write $msg"
  echo "$subject $sha $size" >>"$expected"
  swakslog="$work/swaks$((i + 1)).log"
  sgw_on_failure sgw_log_tail "$swakslog" 30
  sgw_log "sending $subject ($size bytes) from $SGW_NET_INSIDE_HOST to $SGW_NET_OUTSIDE_HOST:25"
  if ! ip netns exec "$ns_in" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --helo inside-host.test --from alice@inside.test --to bob@outside.test \
    --data "@$msg" --timeout 60 >"$swakslog" 2>&1; then
    sgw_gateway_check_alive "$SGW_GW_PID" "$gwlog"
    sgw_fail "swaks could not deliver $subject through the gateway (see its log above)"
  fi
done
sgw_wait_until 10 "the server to record 3 messages" \
  bash -c '[[ $(wc -l <"$1") -ge 3 ]]' _ "$record"

# --- (2) and (3): what the server saw --------------------------------------------------------
normal_pool="${SGW_POOL_NORMAL[*]}"
if ! "$SGW_PYTHON" - "$record" "$expected" "$normal_pool" "$SGW_NET_INSIDE_HOST" <<'EOF'; then
import json, sys
record, expected, pool, inside = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4]
got = [json.loads(l) for l in open(record) if l.strip()]
by_subject = {g["subject"]: g for g in got}
errors, peers = [], set()
for line in open(expected):
    subject, sha, size = line.split()
    g = by_subject.get(subject)
    if g is None:
        errors.append(f"{subject}: never reached the server")
        continue
    if g["size"] != int(size) or g["sha256"] != sha:
        errors.append(f"{subject}: altered in transit: sent {size} bytes sha256 {sha[:16]}, "
                      f"received {g['size']} bytes sha256 {g['sha256'][:16]}")
    if g["peer"] == inside:
        errors.append(f"{subject}: the server saw the inside address {inside}: no SNAT")
    elif g["peer"] not in pool:
        errors.append(f"{subject}: the server saw {g['peer']}, not a normal-pool address {pool}")
    peers.add(g["peer"])
    print(f"  {subject}: {g['size']} bytes intact, client address {g['peer']}:{g['peer_port']}")
if len(got) != 3:
    errors.append(f"the server recorded {len(got)} messages, expected 3")
if len(peers) > 1:
    errors.append(f"one inside host left from several addresses {sorted(peers)}: "
                  "the pool choice must be stable for a host")
for e in errors:
    print("  ERROR:", e)
sys.exit(1 if errors else 0)
EOF
  sgw_fail "the messages did not arrive as sent (see above)"
fi

# --- (4) clean shutdown --------------------------------------------------------------------
sgw_stop_pid "$sink_pid" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$gwlog"
sgw_log "gateway counters at exit:"
sed -n '/stopped/,$p' "$gwlog" | sed 's/^/  | /' >&2
# The workers inspected every message on the way (reassembly, SMTP, MIME): one record each.
records=$(awk '$2 == "enforce_records" { n += $3 } END { print n + 0 }' "$gwlog")
delivered=$(awk '$2 == "inspect_messages" { n += $3 } END { print n + 0 }' "$gwlog")
if [[ $records -ne 3 || $delivered -ne 3 ]]; then
  sgw_fail "the workers reported $records inspection records ($delivered messages), expected 3"
fi
sgw_log "PASS: 3 messages delivered intact through the gateway from a normal-pool address, each inspected"
