#!/usr/bin/env bash
# End-to-end persistence: the gateway killed with SIGKILL under traffic loses no restriction
# and no committed trace row. Real TCP stacks (swaks inside, aiosmtpd outside, the bed of
# tools/lib/gateway.sh), the gateway's SQLite store beside its config (store.path default),
#   limits.sender.recipients_per_message: { max: 2, action: block_user_for_today }
# Asserts:
#   1. three clean messages are delivered and eve, sending to three recipients, is refused
#      (550 5.1.8) and restricted;
#   2. the store holds the four trace rows and eve's restriction (read with Python's sqlite3
#      while the gateway runs);
#   3. kill -9, start again: the log says one restriction was re-applied; eve's next message
#      is refused at MAIL FROM (550 5.1.8) and the server receives nothing from her;
#   4. the rows written before the kill are all there, and the stopped gateway committed the
#      new ones.
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_store.sh PATH/TO/smtpgw        (meson passes the built binary)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e-store

exe=${1:?usage: e2e_store.sh PATH/TO/smtpgw}
sgw_require_netns
sgw_bed_up "$exe" "limits:
  sender:
    recipients_per_message: { max: 2, action: block_user_for_today }"
db="$SGW_WORK/smtpgw.db"

# send NAME FROM TO — swaks from the inside host; its transcript in $SGW_WORK/NAME.log.
send() {
  sgw_log "swaks $1 (from $2 to $3)"
  ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --helo inside-host.test --from "$2" --to "$3" --header "Subject: $1" --body "A note." \
    --timeout 30 >"$SGW_WORK/$1.log" 2>&1
}
# sql QUERY — one value from the gateway's database (a connection of the test's own).
sql() {
  "$SGW_PYTHON" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$db" "$1"
}

# (1) traffic, and a restriction.
for i in 1 2 3; do
  send "clean$i" alice@inside.test a@outside.test ||
    { sgw_log_tail "$SGW_WORK/clean$i.log" 30; sgw_fail "clean$i: not delivered"; }
  sgw_expect_delivered "clean$i" normal "${SGW_POOL_NORMAL[@]}"
done
if send burst eve@inside.test a@outside.test,b@outside.test,c@outside.test; then
  sgw_fail "burst: delivered to three recipients over recipients_per_message 2"
fi
grep -q "550 5.1.8" "$SGW_WORK/burst.log" || { sgw_log_tail "$SGW_WORK/burst.log" 30; sgw_fail "burst: no 550 5.1.8"; }

# (2) committed while the gateway runs.
stored() { [[ $(sql "SELECT COUNT(*) FROM trace") -ge 4 && $(sql "SELECT COUNT(*) FROM restriction") -ge 1 ]]; }
sgw_wait_until 20 "the store to commit four trace rows and a restriction" stored
before=$(sql "SELECT COUNT(*) FROM trace")
[[ $(sql "SELECT key FROM restriction ORDER BY id DESC LIMIT 1") == eve@inside.test ]] ||
  sgw_fail "the stored restriction is not eve's: $(sql "SELECT key FROM restriction")"
[[ $(sql "SELECT COUNT(*) FROM trace WHERE sender = 'alice@inside.test' AND outcome = 'delivered' AND pool = 'normal' AND egress IS NOT NULL") == 3 ]] ||
  sgw_fail "the trace does not hold alice's three deliveries"
sgw_log "store: $before trace rows, restriction of $(sql "SELECT key || ' (' || limit_name || ')' FROM restriction")"

# (3) SIGKILL and a restart.
kill -KILL "$SGW_GW_PID"
wait "$SGW_GW_PID" 2>/dev/null || true
sgw_log "gateway killed with SIGKILL"
sgw_bed_restart
grep -q "smtpgw: store: 1 restrictions in force re-applied" "$SGW_GWLOG" ||
  { sgw_log_tail "$SGW_GWLOG" 30; sgw_fail "the restarted gateway did not re-apply eve's restriction"; }
if send again eve@inside.test a@outside.test; then
  sgw_fail "again: eve's message was delivered after the restart"
fi
grep -q "550 5.1.8" "$SGW_WORK/again.log" || { sgw_log_tail "$SGW_WORK/again.log" 30; sgw_fail "again: no 550 5.1.8"; }
grep -q "RCPT TO" "$SGW_WORK/again.log" && sgw_fail "again: refused after MAIL FROM, not at it"
[[ $(sgw_received mail_from eve@inside.test) == 0 ]] || sgw_fail "the server received eve's mail"

# (4) nothing lost.
sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
after=$(sql "SELECT COUNT(*) FROM trace")
(( after >= before + 1 )) || sgw_fail "the trace has $after rows after the restart, $before before it"
(( $(sgw_counter store_committed) >= 1 )) || sgw_fail "the restarted gateway committed nothing"
[[ $(sgw_counter store_dropped) == 0 ]] || sgw_fail "the store dropped events"
sgw_log "PASS: after SIGKILL the restriction holds and the $before trace rows are kept ($after now)"
