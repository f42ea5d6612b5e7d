#!/usr/bin/env bash
# End-to-end reconciliation after an event-queue overflow: a worker's queue of 16 events
# (workers.event_queue) overflows under one SMTP session (Python's smtplib inside, aiosmtpd
# outside, the bed of tools/lib/gateway.sh), losing the event of a restriction; the control plane
# finds the restriction in the sender table and handles it as the event would have been:
#   limits.sender.messages_per_minute: { max: 2, action: block_user_for_today }
# The session: three filler messages of ten recipients each (their trace events fill the queue),
# then three messages from one sender, the third past the limit, all within milliseconds. A
# drain (every 100 ms) may fall between the filler and the limit, so the restriction's event
# gets through; then the attempt is made again with a new sender (at most 4 attempts), for the
# test is about the lost event: /metrics must count restriction_applied events lost.
# Asserts, for the attempt whose restriction event was lost:
#   1. `smtpgwctl restrictions` lists the sender (sender_messages_per_minute,
#      block_user_for_today): the store has the restriction although its event never arrived;
#   2. the gateway alerted event_queue_overflow, and user_restricted_from_sending for the sender
#      saying it was found in the sender table; /metrics counts the reconciled restriction;
#   3. after a restart (the sender table empty again) the sender's next message is refused at
#      MAIL FROM with 550 5.1.8: the reconciled restriction was re-applied from the store.
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_overflow.sh PATH/TO/smtpgw PATH/TO/smtpgwctl       (meson passes the built binaries)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e-overflow

exe=${1:?usage: e2e_overflow.sh PATH/TO/smtpgw PATH/TO/smtpgwctl}
ctl=${2:?usage: e2e_overflow.sh PATH/TO/smtpgw PATH/TO/smtpgwctl}
[[ -x $ctl ]] || sgw_fail "smtpgwctl '$ctl' is not built"
sgw_require_netns
sgw_api_prepare
sgw_bed_up "$exe" "$SGW_API_YAML
workers:
  event_queue: 16
limits:
  sender:
    messages_per_minute: { max: 2, action: block_user_for_today }"

# metric NAME — one value of /metrics (0 when absent).
metric() {
  local out
  out=$("$SGW_PYTHON" "$SGW_LIB/api_call.py" GET "$SMTPGW_URL/metrics" --token "$SGW_API_TOKEN") ||
    sgw_fail "GET /metrics: the API could not be reached"
  awk -v name="$1" 'NR > 1 && $1 == name { v = $2 } END { print v + 0 }' <<<"$out"
}

# session SENDER — one SMTP session: the filler, then SENDER's three messages; each outcome in
# $SGW_WORK/SENDER.log.
cat >"$SGW_WORK/session.py" <<'PYEOF'
import smtplib, sys
host, sender = sys.argv[1], sys.argv[2]
tag = sender.split("@")[0]
s = smtplib.SMTP(host, 25, "inside-host.test", timeout=30)
for f in range(3):
    rcpts = [f"r{f}{i}@outside.test" for i in range(10)]
    s.sendmail(f"filler{f}-{tag}@inside.test", rcpts, f"Subject: filler {f}\r\n\r\nA note.\r\n")
    print(f"filler{f}: delivered", flush=True)
for m in range(3):
    try:
        s.sendmail(sender, ["a@outside.test"], f"Subject: {tag} {m}\r\n\r\nA note.\r\n")
        print(f"{tag} {m}: delivered", flush=True)
    except smtplib.SMTPException as e:
        # The gateway closes the session after its 550 at MAIL FROM.
        print(f"{tag} {m}: refused: {e}", flush=True)
        break
try:
    s.quit()
except (smtplib.SMTPException, OSError):
    pass
PYEOF
lost_before=0
who=
for attempt in 1 2 3 4; do
  sender="burst$attempt@inside.test"
  ip netns exec "$SGW_NS_IN" "$SGW_PYTHON" "$SGW_WORK/session.py" "$SGW_NET_OUTSIDE_HOST" "$sender" \
    >"$SGW_WORK/$sender.log" 2>&1 || { cat "$SGW_WORK/$sender.log" >&2; sgw_fail "the session of $sender failed"; }
  grep -q "burst$attempt 2: refused: .*550.*5.1.8" "$SGW_WORK/$sender.log" ||
    { cat "$SGW_WORK/$sender.log" >&2; sgw_fail "$sender's third message was not refused with 550 5.1.8"; }
  sleep 0.5  # two drains: what got through is counted
  lost=$(metric 'smtpgw_events_lost{kind="restriction_applied"}')
  sgw_log "attempt $attempt ($sender): restriction_applied events lost so far: $lost"
  if (( lost > lost_before )); then
    who=$sender
    break
  fi
  lost_before=$lost
done
[[ -n $who ]] || sgw_fail "in 4 attempts no restriction event was lost: the queue never overflowed at the crossing"

# (1) the restriction, stored without its event.
listed() { local o; o=$("$ctl" restrictions 2>&1) || return 1; grep -q "^$who  *sender  *sender_messages_per_minute  *block_user_for_today" <<<"$o"; }
sgw_wait_until 10 "$who to be listed as restricted" listed

# (2) the alerts and counters.
grep -q "smtpgw: alert: event_queue_overflow worker0: " "$SGW_GWLOG" ||
  { sgw_log_tail "$SGW_GWLOG" 20; sgw_fail "no event_queue_overflow alert"; }
grep -q "smtpgw: alert: user_restricted_from_sending $who: .*found in the sender table" "$SGW_GWLOG" ||
  { sgw_log_tail "$SGW_GWLOG" 20; sgw_fail "no reconciled user_restricted_from_sending alert for $who"; }
sgw_log "gateway: $(grep -m1 "user_restricted_from_sending $who" "$SGW_GWLOG")"
(( $(metric smtpgw_reconciled_restrictions) >= 1 )) || sgw_fail "/metrics counts no reconciled restriction"

# (3) a restart: the table starts empty, the store re-applies what was reconciled.
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
sgw_bed_restart
ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
  --helo inside-host.test --from "$who" --to a@outside.test --header "Subject: after restart" \
  --body "A note." --timeout 30 >"$SGW_WORK/again.log" 2>&1 &&
  sgw_fail "$who's message was delivered after the restart"
grep -q "550 5.1.8" "$SGW_WORK/again.log" || { sgw_log_tail "$SGW_WORK/again.log" 30; sgw_fail "again: no 550 5.1.8"; }
grep -q "RCPT TO" "$SGW_WORK/again.log" && sgw_fail "again: refused after MAIL FROM, not at it"
sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
sgw_log "PASS: $who's restriction, whose event was lost in an overflow, was stored, alerted and re-applied after a restart"
