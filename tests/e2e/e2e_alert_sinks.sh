#!/usr/bin/env bash
# End-to-end alert sinks: a restriction raised by real traffic reaches a real HTTP receiver
# (tools/lib/http_receiver.py, Python's http.server) and a real SMTP relay (aiosmtpd,
# tools/lib/smtp_sink.py), both on loopback, in the bed of tools/lib/gateway.sh:
#   limits.sender.recipients_per_message: { max: 2, action: block_user_for_today }
#   alerts.webhook (a bearer token from a file; the receiver answers 500 to the first request)
#   alerts.email (two admins)
# Asserts:
#   1. eve's burst to three recipients is refused and restricts her;
#   2. the receiver got the alert user_restricted_from_sending for eve, as JSON, with the
#      token's Authorization header, after one retry (its first answer was 500);
#   3. the relay got one mail to both admins whose subject names the kind and eve;
#   4. the gateway's exit counters: two alerts raised (the limit crossed, the restriction), each
#      delivered by both sinks, the webhook retried at least once, none failed; the token is
#      nowhere in the gateway's log.
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_alert_sinks.sh PATH/TO/smtpgw                 (meson passes the built binary)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e-alert-sinks

exe=${1:?usage: e2e_alert_sinks.sh PATH/TO/smtpgw}
sgw_require_netns
hook_port=$(sgw_free_port)
relay_port=$(sgw_free_port)
secret="hook-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
side=$(mktemp -d /tmp/sgw-alert-sinks-XXXXXX)  # the receivers' files (the bed makes its own)
sgw_defer rm -rf "$side"

sgw_spawn "$side/receiver.log" "$SGW_PYTHON" "$SGW_LIB/http_receiver.py" --port "$hook_port" \
  --record "$side/hook.jsonl" --ready "$side/hook.ready" --fail-first 1
sgw_wait_until 20 "the HTTP receiver to listen" test -s "$side/hook.ready"
sgw_spawn "$side/relay.log" "$SGW_PYTHON" "$SGW_LIB/smtp_sink.py" --host 127.0.0.1 \
  --port "$relay_port" --record "$side/relay.jsonl" --ready "$side/relay.ready" \
  --hostname relay.admin.test
sgw_wait_until 20 "the admins' relay to listen" test -s "$side/relay.ready"

printf '%s\n' "$secret" >"$side/hook.token"
sgw_bed_up "$exe" "limits:
  sender:
    recipients_per_message: { max: 2, action: block_user_for_today }
alerts:
  webhook:
    url: http://127.0.0.1:$hook_port/smtpgw/alerts
    token_file: $side/hook.token
    timeout_ms: 2000
  email:
    relay: 127.0.0.1:$relay_port
    from: smtpgw@gateway.test
    to: [noc@admin.test, oncall@admin.test]"
grep -q "smtpgw: alerts: posting each alert to http://127.0.0.1:$hook_port/smtpgw/alerts" "$SGW_GWLOG" ||
  { sgw_log_tail "$SGW_GWLOG" 30; sgw_fail "the gateway does not say it posts alerts"; }

# (1) the burst that restricts eve.
sgw_log "swaks burst (eve to three recipients)"
if ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --helo inside-host.test --from eve@inside.test --to a@outside.test,b@outside.test,c@outside.test \
    --header "Subject: burst" --body "A note." --timeout 30 >"$SGW_WORK/burst.log" 2>&1; then
  sgw_fail "burst: delivered over recipients_per_message 2"
fi

# (2) the webhook: one 500, then the alert delivered on the retry.
py() { "$SGW_PYTHON" -c "$1" "${@:2}"; }
hook_has() {
  [[ -f $side/hook.jsonl ]] && [[ $(py 'import json,sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(sum(1 for r in rows if r["status"] == 200 and isinstance(r["body"], dict) and r["body"].get("kind") == "user_restricted_from_sending"))' "$side/hook.jsonl") == 1 ]]
}
sgw_wait_until 30 "the webhook to receive eve's restriction" hook_has
report=$(py 'import json,sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [r for r in rows if r["status"] == 200 and r["body"].get("kind") == "user_restricted_from_sending"][0]
print(len(rows), rows[0]["status"], ok["path"], ok["authorization"], ok["content_type"].split(";")[0], ok["body"]["subject"], ok["body"]["severity"])' "$side/hook.jsonl")
sgw_log "webhook: $report"
read -r n first path auth_scheme auth_token ctype subject severity <<<"$report"
[[ $first == 500 && $n -ge 2 ]] || sgw_fail "the receiver's first answer was not followed by a retry: $report"
[[ $path == /smtpgw/alerts ]] || sgw_fail "the webhook posted to $path"
[[ $auth_scheme == Bearer && $auth_token == "$secret" ]] || sgw_fail "the webhook's Authorization is not the token file's"
[[ $ctype == application/json ]] || sgw_fail "the webhook's Content-Type is $ctype"
[[ $subject == eve@inside.test && $severity == critical ]] || sgw_fail "the webhook's alert: $report"

# (3) the e-mail to both admins.
mail_has() {
  [[ -f $side/relay.jsonl ]] && [[ $(py 'import json,sys
print(sum(1 for l in open(sys.argv[1]) if l.strip() and "user_restricted_from_sending" in json.loads(l)["subject"]))' "$side/relay.jsonl") -ge 1 ]]
}
sgw_wait_until 30 "the admins' relay to receive the alert mail" mail_has
mail=$(py 'import json,sys
m = [json.loads(l) for l in open(sys.argv[1]) if l.strip() and "user_restricted_from_sending" in json.loads(l)["subject"]][0]
print(m["mail_from"], ",".join(sorted(m["rcpt_tos"])), m["helo"] != "", "|", m["subject"])' "$side/relay.jsonl")
sgw_log "e-mail: $mail"
[[ $mail == "smtpgw@gateway.test noc@admin.test,oncall@admin.test True | "* ]] ||
  sgw_fail "the alert mail's envelope: $mail"
grep -q "eve@inside.test" <<<"$mail" || sgw_fail "the alert mail's subject does not name eve: $mail"

# (4) the exit counters, and no secret in the log.
sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
# Two alerts each: the limit crossed (sending_limit_exceeded) and the restriction.
for want in "alerts_raised 2" "alerts_webhook_delivered 2" "alerts_email_delivered 2" \
            "alerts_webhook_failed 0" "alerts_email_failed 0"; do
  grep -q "^  $want\$" "$SGW_GWLOG" || { sgw_log_tail "$SGW_GWLOG" 40; sgw_fail "exit counters: no '$want'"; }
done
r=$(sed -n 's/^  alerts_webhook_retried \([0-9]*\)$/\1/p' "$SGW_GWLOG")
[[ -n $r && $r -ge 1 ]] || sgw_fail "alerts_webhook_retried is '$r', expected at least 1"
grep -q -- "$secret" "$SGW_GWLOG" && sgw_fail "the gateway's log contains the webhook's token"
sgw_log "PASS: a restriction's alert posted to a real HTTP receiver (after a retry, with the token) and mailed to both admins through a real relay"
