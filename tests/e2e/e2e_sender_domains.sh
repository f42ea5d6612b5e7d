#!/usr/bin/env bash
# End-to-end sender-domain check, through real TCP stacks and a real DNS server: rbldnsd (as
# DNSBL operators run it) serves the zone "test" on a loopback port, the gateway's control thread
# looks each sender domain up there (sender_domains.servers), swaks sends from inside and
# aiosmtpd receives outside (tools/lib/gateway.sh's sgw_bed_up). Asserts:
#   1. mail from good.test (an MX) is delivered from the normal pool;
#   2. the first message from nomx.test (no such domain) is delivered too — the check is
#      asynchronous — and the gateway then logs "nomx.test has no mail exchanger (no_domain)";
#   3. the next message from nomx.test gets 451 4.7.1 "Sender domain has no mail exchanger" and
#      the server receives nothing;
#   4. its retry leaves from the high-risk pool (the host/server pair was steered) and is
#      delivered;
#   5. the exit counters agree: one deferral, one domain marked, one with a mail host.
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_sender_domains.sh PATH/TO/smtpgw        (meson passes the built binary)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e-domains

exe=${1:?usage: e2e_sender_domains.sh PATH/TO/smtpgw}
sgw_require_netns
# The zone: good.test has an MX; nomx.test does not exist.
sgw_rbldnsd_zone zone <<'ZONE'
good MX 10 mx.good.test
mx.good A 10.99.2.2
ZONE
sgw_rbldnsd test:generic:zone
port=$SGW_RBLDNSD_PORT
dns_pid=$SGW_RBLDNSD_PID

sgw_bed_up "$exe" "sender_domains:
  servers: [\"127.0.0.1:$port\"]
  timeout_ms: 500"

# send NAME FROM — swaks from the inside host; its transcript in $SGW_WORK/NAME.log.
send() {
  sgw_log "swaks $1 (from $2)"
  ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --helo inside-host.test --from "$2" --to a@outside.test \
    --header "Subject: $1" --body "A note from $2." --timeout 30 >"$SGW_WORK/$1.log" 2>&1
}

# (1) a domain with a mail exchanger.
send good alice@good.test || { sgw_log_tail "$SGW_WORK/good.log" 30; sgw_fail "good: not delivered"; }
sgw_expect_delivered good normal "${SGW_POOL_NORMAL[@]}"

# (2) the first message of a domain not checked yet passes; its record starts the check.
send first frank@nomx.test || { sgw_log_tail "$SGW_WORK/first.log" 30; sgw_fail "first: not delivered"; }
sgw_expect_delivered first normal "${SGW_POOL_NORMAL[@]}"
marked() { grep -q "sender_domains: nomx.test has no mail exchanger (no_domain)" "$SGW_GWLOG"; }
sgw_wait_until 30 "the gateway to mark nomx.test" marked
sgw_log "gateway: $(grep -m1 "nomx.test has no mail exchanger" "$SGW_GWLOG")"

# (3) deferred now.
if send second frank@nomx.test; then
  sgw_fail "second: delivered, although nomx.test is marked"
fi
grep -q "451 4.7.1 Sender domain has no mail exchanger" "$SGW_WORK/second.log" ||
  { sgw_log_tail "$SGW_WORK/second.log" 30; sgw_fail "second: swaks did not see the 451 4.7.1"; }
[[ $(sgw_received subject second) == 0 ]] || sgw_fail "second: the server received the deferred message"
sgw_log "second: $(grep -m1 "451 4.7.1" "$SGW_WORK/second.log")"

# (4) the retry, from the high-risk pool.
send retry frank@nomx.test || { sgw_log_tail "$SGW_WORK/retry.log" 30; sgw_fail "retry: not delivered"; }
sgw_expect_delivered retry high_risk "${SGW_POOL_HIGH_RISK[@]}"

# (5) the account.
sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
sgw_stop_pid "$dns_pid" TERM 5
for want in enforce_no_mx_deferred=1 sender_domains_marked=1 sender_domains_mail_host=1 \
  sender_domains_failed=0; do
  k=${want%=*}
  v=${want#*=}
  [[ $(sgw_counter "$k") == "$v" ]] || sgw_fail "gateway counter $k is $(sgw_counter "$k"), expected $v"
done
sgw_log "PASS: a sender domain without a mail exchanger is found by DNS and its mail deferred, then retried from the high-risk pool"
