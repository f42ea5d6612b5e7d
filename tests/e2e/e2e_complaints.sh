#!/usr/bin/env bash
# End-to-end complaint intake: ARF reports (RFC 5965, written by tools/lib/mkarf.py as mailbox
# providers send them) handed to a running gateway with `smtpgwctl complaints submit`, matched
# through the message trace of real traffic (swaks inside, aiosmtpd outside; tools/lib/
# gateway.sh). Asserts:
#   1. alice's message leaves from egress address X;
#   2. a report naming alice (Original-Mail-From) is matched to her by the trace, with her host;
#   3. a report naming a stranger but giving Source-IP X is matched to alice through X;
#   4. a not-spam report is kept but not counted;
#   5. a truncated report is refused: smtpgwctl exits 1 with the parser's words (400);
#   6. `complaints list --sender alice@inside.test` lists the two complaints;
#   7. two complaints about one message pass reputation.complaint_restrict (1 here: 2 > 1): alice is
#      restricted until released (listed with limit complaint_rate, alert
#      user_restricted_from_sending) and her next message gets 550 5.1.8.
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_complaints.sh PATH/TO/smtpgw PATH/TO/smtpgwctl   (meson passes the built binaries)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e-complaints

exe=${1:?usage: e2e_complaints.sh PATH/TO/smtpgw PATH/TO/smtpgwctl}
ctl=${2:?usage: e2e_complaints.sh PATH/TO/smtpgw PATH/TO/smtpgwctl}
[[ -x $ctl ]] || sgw_fail "smtpgwctl '$ctl' is not built"
sgw_require_netns
SGW_CTL=$ctl
sgw_api_prepare
# Complaint rates judged from one message (the default waits for 1,000), so two complaints
# about alice's one message pass the restrict threshold.
sgw_bed_up "$exe" "$SGW_API_YAML
reputation:
  complaint_min_messages: 1
  complaint_warn: 0.5
  complaint_restrict: 1"
arf() { "$SGW_PYTHON" "$SGW_LIB/mkarf.py" "$@"; }

# (1) alice's message, and its trace row.
sgw_log "swaks alice1"
ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
  --helo inside-host.test --from alice@inside.test --to victim@outside.test \
  --header "Subject: alice1" --body "A note." --timeout 30 >"$SGW_WORK/alice1.log" 2>&1 ||
  { sgw_log_tail "$SGW_WORK/alice1.log" 30; sgw_fail "alice1: not delivered"; }
sgw_expect_delivered alice1 normal "${SGW_POOL_NORMAL[@]}"
x=$(sgw_peer_of alice1)
traced() {
  [[ $("$SGW_PYTHON" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM trace WHERE sender = ?", ("alice@inside.test",)).fetchone()[0])' "$SGW_WORK/smtpgw.db" 2>/dev/null) == 1 ]]
}
sgw_wait_until 20 "the store to hold alice's message" traced
host=$("$SGW_PYTHON" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT host FROM trace WHERE sender = ?", ("alice@inside.test",)).fetchone()[0])' "$SGW_WORK/smtpgw.db")

# (2) a report naming alice.
arf --mail-from alice@inside.test --from alice@inside.test >"$SGW_WORK/named.eml"
sgw_ctl complaints submit "$SGW_WORK/named.eml"
[[ $rc == 0 ]] || sgw_fail "the report naming alice: exit $rc: $out"
grep -q "matched to alice@inside.test by sender$" <<<"$out" || sgw_fail "the report naming alice: $out"

# (3) a report naming a stranger, from X.
arf --source-ip "$x" --from stranger@elsewhere.test >"$SGW_WORK/by_ip.eml"
sgw_ctl --json complaints submit "$SGW_WORK/by_ip.eml"
[[ $rc == 0 ]] || sgw_fail "the report from $x: exit $rc: $out"
got=$("$SGW_PYTHON" -c 'import json,sys; j = json.loads(sys.stdin.read())[0]; print(j["sender"], j["host"], j["matched_by"], j["counted"])' <<<"$out")
[[ $got == "alice@inside.test $host source_ip True" ]] || sgw_fail "the report from $x: $got"

# (4) not-spam: kept, not counted.
arf --type not-spam --mail-from alice@inside.test >"$SGW_WORK/not_spam.eml"
sgw_ctl complaints submit "$SGW_WORK/not_spam.eml"
[[ $rc == 0 ]] || sgw_fail "the not-spam report: exit $rc: $out"
grep -q "(not-spam) matched to alice@inside.test by sender, not counted" <<<"$out" ||
  sgw_fail "the not-spam report: $out"

# (5) a truncated report.
arf --mail-from alice@inside.test --truncate >"$SGW_WORK/truncated.eml"
sgw_ctl complaints submit "$SGW_WORK/truncated.eml"
[[ $rc == 1 ]] || sgw_fail "a truncated report: exit $rc, expected 1: $out"
grep -q "400: not a complaint report (ARF, RFC 5965): .*truncated" <<<"$out" ||
  sgw_fail "the truncated report's refusal does not say so: $out"

# (6) alice's complaints.
sgw_ctl --json complaints list --sender alice@inside.test
n=$("$SGW_PYTHON" -c 'import json,sys; print(len(json.loads(sys.stdin.read())["complaints"]))' <<<"$out")
[[ $n == 3 ]] || sgw_fail "complaints list --sender alice: $n rows, expected 3 (two complaints, one not-spam): $out"

# (7) the complaint rate: restricted.
restricted() { local o; o=$("$ctl" restrictions 2>&1) || return 1; grep -q "^alice@inside.test  *sender  *complaint_rate  *block_user" <<<"$o"; }
sgw_wait_until 10 "alice to be restricted for her complaint rate" restricted
grep -q "smtpgw: alert: user_restricted_from_sending alice@inside.test: .*complaint rate" "$SGW_GWLOG" ||
  { sgw_log_tail "$SGW_GWLOG" 20; sgw_fail "no alert for alice's complaint rate"; }
sgw_log "gateway: $(grep -m1 "user_restricted_from_sending alice@inside.test" "$SGW_GWLOG")"
if ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --helo inside-host.test --from alice@inside.test --to victim@outside.test \
    --header "Subject: alice2" --body "A note." --timeout 30 >"$SGW_WORK/alice2.log" 2>&1; then
  sgw_fail "alice2: delivered although alice is restricted"
fi
grep -q "550 5.1.8" "$SGW_WORK/alice2.log" || { sgw_log_tail "$SGW_WORK/alice2.log" 20; sgw_fail "alice2: no 550 5.1.8"; }
sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
# The organisation (inside.test) passed the rate too: an alert, not a restriction (organisations
# are restricted by their suspicious share only).
grep -q "^  reputation_findings_complaint_rate_restrict 2$" "$SGW_GWLOG" ||
  sgw_fail "the exit counters do not count two complaint_rate_restrict findings (alice, her org)"
grep -q "smtpgw: alert: suspicious_sending_pattern org:inside.test: .*draws complaints" "$SGW_GWLOG" ||
  sgw_fail "no alert for the organisation's complaint rate"
grep -q "org:inside.test is restricted" "$SGW_GWLOG" && sgw_fail "the organisation was restricted for its complaints"
sgw_log "PASS: ARF reports matched to the sender by the trace (by name and by egress address), not-spam kept uncounted, a truncated one refused"
