#!/usr/bin/env bash
# End-to-end enforcement with Postfix as the inside relay, as the gateway meets it in service:
# swaks submits to a private Postfix instance in the inside namespace (10.99.1.2), which relays
# everything to relayhost = [10.99.2.2]:25, the aiosmtpd server outside, through the gateway
# (tools/lib/gateway.sh's sgw_bed_up) with the shipped rules and
#   limits.sender.recipients_per_message: { max: 2, action: block_user_for_today }
# Mail for inside.test stays in Postfix: the virtual(8) agent writes each local user's mailbox
# under the work directory, which is where Postfix's non-delivery reports to local senders land.
#
# Asserts, each from what Postfix did (its mailboxes, its queue, its log) and what the server
# received:
#   1. a restricted sender's mail comes back to it as a bounce carrying the gateway's 5.1.8 text:
#      carol's message to 3 recipients is refused at the third RCPT (the limit restricts her),
#      so Postfix returns that recipient to carol (Status 5.1.8, "550 5.1.8 Access denied, bad
#      outbound sender") and defers the other two; her next message is refused at MAIL FROM and
#      returned whole; the server receives nothing of either;
#   2. another sender's clean message is delivered, from a normal-pool address;
#   3. GTUBE from a third sender: the gateway answers `451 4.7.1`, so the message stays in
#      Postfix's deferred queue with that reason, and the server receives nothing;
#   4. `postqueue -f` (the retry the test triggers): the GTUBE message is delivered, from the
#      high-risk address; carol's two deferred recipients are tried again, refused at MAIL FROM
#      and returned to her with 5.1.8 too; the queue is empty;
#   5. Postfix asks for TLS when offered (smtp_tls_security_level = may, as Debian sets it up),
#      yet it never started TLS: the gateway masked the server's STARTTLS, so Postfix sent
#      everything in the clear, where the gateway can inspect it;
#   6. the gateway's exit counters say the same.
#
# The relay's settings, and why (tools/lib/postfix.sh has the rest):
# - Connection caching stays at Postfix's defaults (smtp_connection_cache_on_demand = yes: a
#   connection is kept 2 s idle, smtp_connection_cache_time_limit, and only while the queue
#   holds more mail for the destination), as on a real relay. The high-risk pool is chosen at
#   SYN, so a message may only be steered on a new connection. That works with a caching relay
#   because the gateway ends every session it refuses or defers (reply, 421, FIN): the
#   connection that carried spam is never reused, and the retry comes minutes later
#   (minimal_backoff_time, 300 s by default), long after a cached connection opened before the
#   verdict was closed. Were one reused, the retry would be deferred once more and its
#   connection closed, never delivered from the normal pool.
# - Retries happen only when the test flushes the queue (an hour's backoff otherwise).
# - The inside host's whole traffic is steered for limits.spam.steer_ttl after the spam
#   (docs/gateway.md, "Enforcement"): here every later connection is the relay's, so the clean
#   message (2) goes before the spam (3).
# Skips (77) only when the machine cannot create network namespaces; a missing Postfix is a
# failure (tools/setup installs it).
#
# Usage: e2e_postfix.sh PATH/TO/smtpgw        (meson passes the built binary)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
# shellcheck source=../../tools/lib/postfix.sh
source "$SGW_LIB/postfix.sh"
sgw_harness_init e2e-postfix

exe=${1:?usage: e2e_postfix.sh PATH/TO/smtpgw}
sgw_require_netns
for prog in postfix postqueue postconf; do
  command -v "$prog" >/dev/null || sgw_fail "$prog is not installed (tools/setup installs postfix)"
done
sgw_bed_up "$exe" "limits:
  sender:
    recipients_per_message: { max: 2, action: block_user_for_today }"

gtube='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
restricted_text='550 5.1.8 Access denied, bad outbound sender'  # enforce's kReplyRestricted

# --- the relay: a private Postfix instance in the inside namespace ------------------------------
pf_dir=$SGW_WORK/postfix
sgw_postfix_start "$pf_dir" "$SGW_NS_IN" "$SGW_NET_INSIDE_HOST" "[$SGW_NET_OUTSIDE_HOST]:25" carol dave erin
pf_log=$pf_dir/maillog

submit() { sgw_postfix_submit "$pf_dir" "$@"; }
queue_entry() { sgw_postfix_queue_entry "$pf_dir" "$1"; }
# deferred_with ID N TEXT — true when N recipients of ID are in the deferred queue, each with
# a reason that contains TEXT.
deferred_with() {
  local entry
  entry=$(queue_entry "$1")
  [[ $(grep -c "^deferred .*$3" <<<"$entry") == "$2" ]]
}
left_queue() { [[ -z $(queue_entry "$1") ]]; }
queue_empty() { [[ -z $(sgw_postfix_queue "$pf_dir") ]]; }
bounces() { sgw_postfix_bounces "$pf_dir" "$@"; }

# expect_bounced USER SUBJECT RECIPIENT... — USER has non-delivery reports for SUBJECT for
# exactly these recipients, each with status 5.1.8 and the gateway's reply as diagnostic.
expect_bounced() {
  local user=$1 subject=$2
  shift 2
  local want
  want=$(printf '%s\n' "$@" | sort)
  if ! sgw_poll 20 check_bounced "$user" "$subject" "$want"; then
    sgw_log "$user's mailbox has, for '$subject' (recipient, status, diagnostic):"
    bounces "$user" "$subject" | sed 's/^/  | /' >&2
    sgw_fail "$subject: expected reports to $user returning $(paste -sd, <<<"$want"), each 5.1.8 '$restricted_text'"
  fi
  sgw_log "$subject: returned to $user: $(bounces "$user" "$subject" | awk '{print $1 " " $2}' | paste -sd, -)"
}
check_bounced() {  # USER SUBJECT WANT — what expect_bounced polls
  local got
  got=$(bounces "$1" "$2")
  [[ $(awk '{print $1}' <<<"$got" | sort) == "$3" ]] || return 1
  ! grep -v " 5\.1\.8 $restricted_text\$" <<<"$got" | grep -q .
}
# expect_deferred ID N TEXT WHAT — N recipients of queue file ID wait in the deferred queue
# with TEXT in their reason.
expect_deferred() {
  if ! sgw_poll 20 deferred_with "$1" "$2" "$3"; then
    sgw_postfix_cmd "$pf_dir" postqueue -c "$pf_dir/etc" -p >&2 || true
    sgw_fail "$4: expected $2 recipient(s) of $1 in Postfix's deferred queue with '$3'"
  fi
  sgw_log "$4: deferred by Postfix: $(queue_entry "$1" | head -n 1)"
}

# (1) carol goes over the limit: the gateway refuses the third RCPT with 5.1.8 and restricts
# her. Postfix returns that recipient to her at once; the gateway ended the session (421 after
# the refusal), so Postfix's DATA for the other two got the 421 and they wait in its queue.
over_limit=$(submit over-limit carol@inside.test "three recipients" a@outside.test b@outside.test c@outside.test)
expect_bounced carol over-limit c@outside.test
expect_deferred "$over_limit" 2 "421 4.7.0" over-limit
# Her next message is refused at MAIL FROM and comes back whole.
restricted=$(submit restricted carol@inside.test "one recipient" d@outside.test e@outside.test)
expect_bounced carol restricted d@outside.test e@outside.test
sgw_wait_until 20 "Postfix to drop the restricted message from its queue" left_queue "$restricted"

# (2) another sender is not affected.
clean=$(submit clean dave@inside.test "a clean message" a@outside.test)
sgw_expect_delivered clean normal "${SGW_POOL_NORMAL[@]}"
sgw_wait_until 20 "Postfix to drop the clean message from its queue" left_queue "$clean"

# (3) spam on a normal flow: deferred, and it stays in Postfix's queue.
spam=$(submit spam erin@inside.test "$gtube" a@outside.test)
expect_deferred "$spam" 1 "451 4.7.1" spam
[[ $(sgw_received subject spam) == 0 ]] || sgw_fail "spam: the server received the message the gateway deferred"

# (4) the retry: flush the queue. The spam leaves on a new connection, which the gateway steers
# to the high-risk pool; carol's two deferred recipients are refused at MAIL FROM.
sgw_log "flushing Postfix's queue (postqueue -f)"
sgw_postfix_flush "$pf_dir"
sgw_expect_delivered spam high_risk "${SGW_POOL_HIGH_RISK[@]}"
expect_bounced carol over-limit a@outside.test b@outside.test c@outside.test
sgw_wait_until 20 "Postfix's queue to be empty" queue_empty
[[ $(sgw_received mail_from carol@inside.test) == 0 ]] || sgw_fail "a message of the restricted sender reached the server"

# (5) Postfix would have used TLS (smtp_tls_security_level = may), but was never offered it;
# and it logged no warning (a mistake in the relay's set-up shows here first).
if grep -q "TLS connection established" "$pf_log"; then
  sgw_fail "Postfix started TLS through the gateway: $(grep -m1 "TLS connection established" "$pf_log")"
fi
if grep -Eq "postfix/[a-z-]+\[[0-9]+\]: (warning|error|fatal|panic):" "$pf_log"; then
  grep -E "postfix/[a-z-]+\[[0-9]+\]: (warning|error|fatal|panic):" "$pf_log" | sed 's/^/  | /' >&2
  sgw_fail "Postfix logged warnings or errors (above)"
fi

# (6) the gateway's own account: one limit refusal; carol's two MAIL FROMs refused (her second
# message, and the flush's retry of her first); the spam deferred once, on its first attempt,
# and released once, at the flush; STARTTLS masked in the server's EHLO replies.
sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
for want in enforce_refused_limit=1 enforce_refused_restricted=2 enforce_spam_deferred=1 \
  enforce_spam_released=1; do
  k=${want%=*}
  v=${want#*=}
  [[ $(sgw_counter "$k") == "$v" ]] || sgw_fail "gateway counter $k is $(sgw_counter "$k"), expected $v"
done
(( $(sgw_counter inspect_starttls_masked) >= 1 )) ||
  sgw_fail "gateway counter inspect_starttls_masked is $(sgw_counter inspect_starttls_masked), expected one or more"
sgw_log "PASS: through Postfix: restricted sender bounced with 5.1.8, spam deferred (451 4.7.1) in the queue and delivered from high risk at the flush, clean mail from the normal pool, no TLS"
