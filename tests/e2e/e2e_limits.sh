#!/usr/bin/env bash
# End-to-end: the enforcement paths e2e_enforce.sh does not take, through real TCP stacks
# (swaks inside, aiosmtpd outside offering AUTH, tools/lib/gateway.sh's sgw_bed_up) with
#   limits.sender.recipients_per_message:       { max: 2, action: throttle }
#   limits.sender.external_recipients_per_hour: { max: 3, action: block_user_for_today }
# Asserts, each from what swaks saw and what the server received:
#   1. a message to 3 recipients: `452 4.5.3` at the third RCPT; nothing delivered (the third
#      is taken back out of the counts, the two accepted before it stay: docs/accounting.md);
#   2. an authenticated user (AUTH PLAIN): a message to 2 recipients is delivered (the server
#      saw the user); the next to 2 more crosses 3 an hour: `554 5.2.2 Submission quota
#      exceeded`; the user is now restricted: its next session gets `550 5.1.8` at AUTH, before
#      any MAIL FROM, although it uses another envelope sender;
#   3. a MAIL FROM path over 320 octets: `501 5.5.4`;
#   4. a bounce (null sender) on a normal flow: `451 4.7.1 Bounce deferred`; its retry leaves
#      from the high-risk address (only the host/server pair was steered) and is delivered;
#   5. the exit counters agree, and every record was traced.
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_limits.sh PATH/TO/smtpgw        (meson passes the built binary)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e-limits

exe=${1:?usage: e2e_limits.sh PATH/TO/smtpgw}
sgw_require_netns
SGW_SINK_AUTH=1 sgw_bed_up "$exe" "limits:
  sender:
    recipients_per_message: { max: 2, action: throttle }
    external_recipients_per_hour: { max: 3, action: block_user_for_today }"

# send NAME FROM [swaks options...] — swaks from the inside host, its transcript in
# $SGW_WORK/NAME.log; the rest of the arguments go to swaks (recipients, AUTH).
send() {
  local name=$1 from=$2
  shift 2
  sgw_log "swaks $name (from '$from')"
  ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --helo inside-host.test --from "$from" --header "Subject: $name" \
    --body "A note for $name." --timeout 30 "$@" >"$SGW_WORK/$name.log" 2>&1
}
# refused NAME REPLY — swaks saw REPLY and the server received nothing under that subject.
refused() {
  grep -q "$2" "$SGW_WORK/$1.log" || { sgw_log_tail "$SGW_WORK/$1.log" 30; sgw_fail "$1: swaks did not see $2"; }
  [[ $(sgw_received subject "$1") == 0 ]] || sgw_fail "$1: the server received it"
  sgw_log "$1: $(grep -m1 "$2" "$SGW_WORK/$1.log")"
}

# (1) recipients per message, throttling.
if send three carol@inside.test --to a@outside.test,b@outside.test,c@outside.test; then
  sgw_fail "three: delivered to 3 recipients, over recipients_per_message 2"
fi
refused three "452 4.5.3 Too many recipients"

# (2) a quota, then the restricted user refused at AUTH.
auth=(--auth PLAIN --auth-user mallory --auth-password not-a-secret)
send quota1 mallory@inside.test --to d@outside.test,e@outside.test "${auth[@]}" ||
  { sgw_log_tail "$SGW_WORK/quota1.log" 30; sgw_fail "quota1: not delivered"; }
sgw_expect_delivered quota1 normal "${SGW_POOL_NORMAL[@]}"
user=$("$SGW_PYTHON" -c 'import json,sys; print([json.loads(l).get("auth_user", "") for l in open(sys.argv[1]) if l.strip() and json.loads(l)["subject"] == "quota1"][0])' "$SGW_RECORD")
[[ $user == mallory ]] || sgw_fail "quota1: the server saw AUTH as '$user', not mallory"
if send quota2 mallory@inside.test --to f@outside.test,g@outside.test "${auth[@]}"; then
  sgw_fail "quota2: delivered, over external_recipients_per_hour 3"
fi
refused quota2 "554 5.2.2 Submission quota exceeded"
if send authref oscar@inside.test --to h@outside.test "${auth[@]}"; then
  sgw_fail "authref: delivered, although user mallory is restricted"
fi
refused authref "550 5.1.8"
grep -q "MAIL FROM" "$SGW_WORK/authref.log" &&
  sgw_fail "authref: swaks got as far as MAIL FROM; the gateway should refuse the AUTH"

# (3) a path over 320 octets.
long="$(printf 'p%.0s' {1..330})@inside.test"
if send longpath "$long" --to a@outside.test; then
  sgw_fail "longpath: delivered with a 342-octet MAIL FROM path"
fi
refused longpath "501 5.5.4 Address longer than 320 octets"

# (4) a bounce: deferred on the normal flow, its retry from high risk.
if send bounce "<>" --to a@outside.test; then
  sgw_fail "bounce: delivered on a normal flow"
fi
refused bounce "451 4.7.1 Bounce deferred"
send bounce_retry "<>" --to a@outside.test ||
  { sgw_log_tail "$SGW_WORK/bounce_retry.log" 30; sgw_fail "bounce_retry: not delivered"; }
sgw_expect_delivered bounce_retry high_risk "${SGW_POOL_HIGH_RISK[@]}"

# (5) the gateway's account.
sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
for want in enforce_too_many_recipients=1 enforce_refused_limit=1 enforce_refused_restricted=1 \
  enforce_refused_address=1 enforce_bounce_deferred=1 enforce_steered_flows=1; do
  k=${want%=*}
  v=${want#*=}
  [[ $(sgw_counter "$k") == "$v" ]] || sgw_fail "gateway counter $k is $(sgw_counter "$k"), expected $v"
done
[[ $(sgw_counter events_trace) == "$(sgw_counter enforce_records)" ]] ||
  sgw_fail "events_trace is $(sgw_counter events_trace), enforce_records $(sgw_counter enforce_records)"
sgw_log "PASS: 452 4.5.3, 554 5.2.2, 550 5.1.8 at AUTH, 501 5.5.4 and a bounce deferred then retried from high risk, through real TCP"
