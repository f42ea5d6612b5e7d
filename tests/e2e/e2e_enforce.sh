#!/usr/bin/env bash
# End-to-end enforcement through real TCP stacks: swaks (Linux TCP) inside, aiosmtpd outside,
# the gateway between them (tools/lib/gateway.sh's sgw_bed_up) with the shipped rules and
#   limits.sender.recipients_per_message: { max: 2, action: block_user_for_today }
# Asserts, each from what the client program saw and what the server received:
#   1. a message to 3 recipients: swaks sees `550 5.1.8` at the third RCPT; the sender is now
#      restricted: its next message gets `550 5.1.8` at MAIL FROM; the server receives neither;
#   2. another sender's clean message is delivered, from a normal-pool address;
#   3. GTUBE from the same host: swaks sees `451 4.7.1` (deferred, to be retried from a
#      high-risk address) and the server receives nothing;
#   4. the retry of that message is delivered, from the high-risk address;
#   5. the server offers STARTTLS, but through the gateway swaks sees "250-XXXXXXXX" instead, and
#      swaks --tls gives up ("did not advertise STARTTLS") before sending the message;
#   6. a header line over 998 octets gets `554 5.6.0`, an EHLO line over 512 `500 5.5.2`;
#   7. the gateway's exit counters say the same (refusals, deferral, steered flow, masking).
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_enforce.sh PATH/TO/smtpgw        (meson passes the built binary)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e-enforce

exe=${1:?usage: e2e_enforce.sh PATH/TO/smtpgw}
sgw_require_netns
sgw_bed_up "$exe" "limits:
  sender:
    recipients_per_message: { max: 2, action: block_user_for_today }"

gtube='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'

# send NAME FROM BODY TO... — swaks from the inside host; its transcript in $SGW_WORK/NAME.log.
# Returns swaks' status (0: the server accepted the message).
send() {
  local name=$1 from=$2 body=$3
  shift 3
  local to
  to=$(IFS=,; echo "$*")
  sgw_log "swaks $name: from <$from> to $to"
  ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --helo inside-host.test --from "$from" --to "$to" \
    --header "Subject: $name" --body "$body" --timeout 30 >"$SGW_WORK/$name.log" 2>&1
}
# expect_refused NAME REPLY — swaks failed, and the reply it printed is REPLY.
expect_refused() {
  local name=$1 reply=$2
  grep -q "$reply" "$SGW_WORK/$name.log" ||
    { sgw_log_tail "$SGW_WORK/$name.log" 30; sgw_fail "$name: swaks did not see '$reply'"; }
  sgw_log "$name: swaks saw: $(grep -m1 "$reply" "$SGW_WORK/$name.log")"
}

# (1) a limit that restricts, then the restriction.
if send over-limit carol@inside.test "three recipients" a@outside.test b@outside.test c@outside.test; then
  sgw_fail "over-limit: the server accepted a message over recipients_per_message"
fi
expect_refused over-limit "550 5.1.8"
if send restricted carol@inside.test "one recipient" a@outside.test; then
  sgw_fail "restricted: a restricted sender's message was accepted"
fi
expect_refused restricted "550 5.1.8"
grep -q "MAIL FROM" "$SGW_WORK/restricted.log" || sgw_fail "restricted: swaks never sent MAIL FROM"

# (2) another sender is not affected.
send clean dave@inside.test "a clean message" a@outside.test ||
  { sgw_log_tail "$SGW_WORK/clean.log" 30; sgw_fail "clean: not delivered"; }
sgw_expect_delivered clean normal "${SGW_POOL_NORMAL[@]}"

# (3) spam on a normal flow is deferred ...
if send spam erin@inside.test "$gtube" a@outside.test; then
  sgw_fail "spam: GTUBE was accepted on a normal-pool flow"
fi
expect_refused spam "451 4.7.1"
# (4) ... and its retry leaves from the high-risk pool and is delivered.
send spam erin@inside.test "$gtube" a@outside.test ||
  { sgw_log_tail "$SGW_WORK/spam.log" 30; sgw_fail "spam retry: not delivered"; }
sgw_expect_delivered spam high_risk "${SGW_POOL_HIGH_RISK[@]}"
[[ $(sgw_received subject over-limit) == 0 && $(sgw_received subject restricted) == 0 ]] ||
  sgw_fail "a refused message reached the server"

# (5) STARTTLS: the server offers it (asked directly from its own namespace), but through the
# gateway the client never sees it offered, so a client that requires TLS gives up before
# sending anything, and one that does not sends in the clear.
ip netns exec "$SGW_NS_OUT" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 --quit-after EHLO \
  --timeout 30 >"$SGW_WORK/direct-ehlo.log" 2>&1 || sgw_fail "the server did not answer EHLO directly"
grep -q "250-STARTTLS" "$SGW_WORK/direct-ehlo.log" ||
  { sgw_log_tail "$SGW_WORK/direct-ehlo.log" 20; sgw_fail "the server does not offer STARTTLS"; }
ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 --quit-after EHLO \
  --helo inside-host.test --timeout 30 >"$SGW_WORK/ehlo.log" 2>&1 || sgw_fail "EHLO through the gateway failed"
grep -q "250-XXXXXXXX" "$SGW_WORK/ehlo.log" && ! grep -q "STARTTLS" "$SGW_WORK/ehlo.log" ||
  { sgw_log_tail "$SGW_WORK/ehlo.log" 20; sgw_fail "STARTTLS was not masked in the EHLO reply"; }
sgw_log "ehlo: the client saw $(grep -m1 -o '250-XXXXXXXX' "$SGW_WORK/ehlo.log") where the server offered STARTTLS"
if ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 --tls \
  --helo inside-host.test --from frank@inside.test --to a@outside.test --header "Subject: tls" \
  --timeout 30 >"$SGW_WORK/tls.log" 2>&1; then
  sgw_fail "tls: swaks started TLS through the gateway"
fi
grep -q "did not advertise STARTTLS" "$SGW_WORK/tls.log" ||
  { sgw_log_tail "$SGW_WORK/tls.log" 20; sgw_fail "tls: swaks did not report STARTTLS missing"; }

# (6) the firewall-style limits: a header line over 998 octets, a command line over 512.
long=$(printf 'x%.0s' $(seq 1 1000))
if ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
  --helo inside-host.test --from frank@inside.test --to a@outside.test \
  --header "Subject: long-line" --header "X-Long: $long" --body "body" --timeout 30 \
  >"$SGW_WORK/long-line.log" 2>&1; then
  sgw_fail "long-line: a header line over 998 octets was accepted"
fi
expect_refused long-line "554 5.6.0"
if ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
  --helo "$long.test" --from frank@inside.test --to a@outside.test --timeout 30 \
  >"$SGW_WORK/long-command.log" 2>&1; then
  sgw_fail "long-command: an EHLO over 512 octets was accepted"
fi
expect_refused long-command "500 5.5.2"
[[ $(sgw_received subject tls) == 0 && $(sgw_received subject long-line) == 0 ]] || sgw_fail "a refused message reached the server"

# (7) the gateway's own account. The host stays steered after its spam (limits.spam.steer_ttl):
# the spam retry and the four connections of (5) and (6) left from the high-risk pool. First as
# an operator sees it while the gateway runs (DPDK telemetry, /smtpgw/pipeline), then in the
# report it prints when it stops.
live=$(sgw_telemetry "$SGW_PREFIX" /smtpgw/pipeline)
[[ -n $live ]] || sgw_fail "telemetry: the gateway answers no /smtpgw/pipeline command"
for want in enforce_refused_limit=1 enforce_refused_restricted=1 enforce_spam_deferred=1 \
  enforce_refused_header_line=1; do
  k=${want%=*}
  got=$(sgw_json_get "$live" "j['/smtpgw/pipeline'].get('$k', -1)")
  [[ $got == "${want#*=}" ]] || sgw_fail "telemetry: /smtpgw/pipeline $k is $got, expected ${want#*=}"
done
(( $(sgw_json_get "$live" "j['/smtpgw/pipeline'].get('smtp_commands', 0)") > 0 )) ||
  sgw_fail "telemetry: /smtpgw/pipeline counts no SMTP command"
sgw_log "telemetry /smtpgw/pipeline: $(sgw_json_get "$live" "len(j['/smtpgw/pipeline'])") counters, enforce_spam_deferred $(sgw_json_get "$live" "j['/smtpgw/pipeline']['enforce_spam_deferred']")"
sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
for want in enforce_refused_limit=1 enforce_refused_restricted=1 enforce_spam_deferred=1 \
  enforce_spam_released=1 enforce_steered_flows=5 enforce_refused_header_line=1 \
  enforce_refused_command_line=1 inspect_refusals_answered=5; do
  k=${want%=*}
  v=${want#*=}
  [[ $(sgw_counter "$k") == "$v" ]] || sgw_fail "gateway counter $k is $(sgw_counter "$k"), expected $v"
done
# The message trace: one event per record, whatever became of it (none dropped by a full queue).
(( $(sgw_counter enforce_records) > 0 )) || sgw_fail "gateway counter enforce_records is 0"
# Messages by action (the console's overview): the spam deferred and the long header line
# refused are among them, and no record is counted under two actions.
(( $(sgw_counter enforce_records_deferred) >= 1 && $(sgw_counter enforce_records_refused) >= 1 )) ||
  sgw_fail "records by action: deferred $(sgw_counter enforce_records_deferred), refused $(sgw_counter enforce_records_refused)"
(( $(sgw_counter enforce_records_deferred) + $(sgw_counter enforce_records_refused) +
   $(sgw_counter enforce_records_throttled) <= $(sgw_counter enforce_records) )) ||
  sgw_fail "more records by action than records"
# Bytes as the ports counted them: every frame is at least 42 bytes (an unpadded ARP on a tap).
(( $(sgw_counter rx_bytes) >= 42 * $(sgw_counter rx_packets) && $(sgw_counter tx_bytes) >= 42 * $(sgw_counter tx_packets) )) ||
  sgw_fail "bytes: rx $(sgw_counter rx_bytes) for $(sgw_counter rx_packets) packets, tx $(sgw_counter tx_bytes) for $(sgw_counter tx_packets)"
[[ $(sgw_counter events_trace) == "$(sgw_counter enforce_records)" ]] ||
  sgw_fail "events_trace is $(sgw_counter events_trace), enforce_records $(sgw_counter enforce_records): a record was not traced"
(( $(sgw_counter inspect_starttls_masked) >= 2 )) ||
  sgw_fail "gateway counter inspect_starttls_masked is $(sgw_counter inspect_starttls_masked), expected one or more per EHLO"
sgw_log "PASS: restriction (550 5.1.8), limit, spam deferral (451 4.7.1), high-risk retry, STARTTLS masked, over-long lines (554 5.6.0, 500 5.5.2) through real TCP"
