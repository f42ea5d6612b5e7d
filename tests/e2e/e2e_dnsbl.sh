#!/usr/bin/env bash
# End-to-end blocklist monitoring, through real TCP stacks and a real DNS blocklist: rbldnsd
# serves the ip4set zone bl.test on a loopback port (rewritten by the test while everything
# runs), the gateway watches its pool addresses there (dnsbl.zones), swaks sends from inside and
# aiosmtpd receives outside (tools/lib/gateway.sh's sgw_bed_up). Asserts:
#   1. a message leaves from a normal-pool address X;
#   2. the test lists X: the gateway logs "X listed on bl.test (127.0.0.4)" and who used X
#      (frank, from the trace: "X was used most by frank@inside.test (HOST): 1 messages"), and
#      the next message leaves from the other normal address;
#   3. the test clears X: the gateway logs "X no longer listed", and the next message leaves
#      from X again (rendezvous hashing: a host returns to its address once it is back);
#   4. the exit counters agree, and the alerts file (alerts.file) has egress_ip_listed (its
#      details ranking frank first) and egress_ip_delisted for X, once each.
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_dnsbl.sh PATH/TO/smtpgw        (meson passes the built binary)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e-dnsbl

exe=${1:?usage: e2e_dnsbl.sh PATH/TO/smtpgw}
sgw_require_netns
sgw_bl_zone
sgw_rbldnsd bl.test:ip4set:bl
port=$SGW_RBLDNSD_PORT
dns_pid=$SGW_RBLDNSD_PID

sgw_bed_up "$exe" "dnsbl:
  zones: [bl.test]
  servers: [\"127.0.0.1:$port\"]
  interval: 10s
  recheck_min: 1s
  timeout_ms: 500
alerts:
  file: alerts.jsonl"

# send NAME — swaks from the inside host; its transcript in $SGW_WORK/NAME.log.
send() {
  sgw_log "swaks $1"
  ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --helo inside-host.test --from frank@inside.test --to a@outside.test \
    --header "Subject: $1" --body "A note." --timeout 30 >"$SGW_WORK/$1.log" 2>&1 ||
    { sgw_log_tail "$SGW_WORK/$1.log" 30; sgw_fail "$1: not delivered"; }
}

# (1) where this host's mail leaves from.
send before
sgw_expect_delivered before normal "${SGW_POOL_NORMAL[@]}"
x=$(sgw_peer_of before)
y=${SGW_POOL_NORMAL[0]}
[[ $y == "$x" ]] && y=${SGW_POOL_NORMAL[1]}
sgw_log "this host leaves from $x; the other normal address is $y"

# (2) X listed, once the store holds the message that left from it (who used X comes from there).
traced() {
  [[ $("$SGW_PYTHON" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM trace WHERE egress = ?", (sys.argv[2],)).fetchone()[0])' "$SGW_WORK/smtpgw.db" "$x" 2>/dev/null) == 1 ]]
}
sgw_wait_until 20 "the store to hold the message that left from $x" traced
sgw_bl_zone "$x"
listed() { grep -q "smtpgw: dnsbl: $x listed on bl.test (127.0.0.4)" "$SGW_GWLOG"; }
sgw_wait_until 40 "the gateway to see $x listed" listed
sgw_log "gateway: $(grep -m1 "dnsbl: $x listed" "$SGW_GWLOG")"
grep -q "smtpgw: dnsbl: $x was used most by frank@inside.test (.*): 1 messages, 0 spam" "$SGW_GWLOG" ||
  { sgw_log_tail "$SGW_GWLOG" 20; sgw_fail "the listing does not say frank used $x"; }
sgw_log "gateway: $(grep -m1 "dnsbl: $x was used most by" "$SGW_GWLOG")"
send during
sgw_expect_delivered during normal "$y"

# (3) X cleared.
sgw_bl_zone
cleared() { grep -q "smtpgw: dnsbl: $x no longer listed" "$SGW_GWLOG"; }
sgw_wait_until 40 "the gateway to see $x cleared" cleared
sgw_log "gateway: $(grep -m1 "dnsbl: $x no longer listed" "$SGW_GWLOG")"
send after
sgw_expect_delivered after normal "$x"

# (4) the account.
sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
sgw_stop_pid "$dns_pid" TERM 5
(( $(sgw_counter dnsbl_listed_answers) >= 1 )) || sgw_fail "dnsbl_listed_answers is 0"
(( $(sgw_counter dnsbl_clean_answers) >= 3 )) || sgw_fail "dnsbl_clean_answers is $(sgw_counter dnsbl_clean_answers)"
[[ $(sgw_counter dnsbl_zones_disabled) == 0 ]] || sgw_fail "the zone was disabled"
(( $(sgw_counter nat_high_risk) == 0 )) || sgw_fail "a message left from the high-risk pool"
# The alerts file: the listing and the clearing, once each.
kinds=$("$SGW_PYTHON" -c 'import json,sys; print(" ".join(j["kind"] + ":" + j["subject"] for j in map(json.loads, open(sys.argv[1]))))' "$SGW_WORK/alerts.jsonl")
[[ $kinds == "egress_ip_listed:$x egress_ip_delisted:$x" ]] || sgw_fail "alerts.jsonl: $kinds"
blamed=$("$SGW_PYTHON" -c 'import json,sys; j = json.loads(open(sys.argv[1]).readline()); u = j["details"]["used_by"][0]; print(u["sender"], u["messages"], u["spam"])' "$SGW_WORK/alerts.jsonl")
[[ $blamed == "frank@inside.test 1 0" ]] || sgw_fail "the listing alert's used_by: $blamed"
sgw_log "PASS: a pool address listed on a real blocklist leaves rotation for new flows and returns when it clears"
