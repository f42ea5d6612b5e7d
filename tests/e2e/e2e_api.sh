#!/usr/bin/env bash
# End-to-end operator API over real HTTP on loopback (tools/lib/api_call.py, Python urllib),
# against a running gateway in the bed of tools/lib/gateway.sh (swaks inside, aiosmtpd outside),
#   limits.sender.recipients_per_message: { max: 2, action: block_user_for_today }
# Asserts:
#   1. without a token, or with a wrong one, every path answers 401 with the same body (an
#      existing path and a made-up one alike);
#   2. health: ok, policy version 1;
#   3. eve, restricted by the limit, is listed in /restrictions; released with a reason, her
#      next message is delivered; the store records the release and its reason; a second
#      release is 404;
#   4. bad JSON, a missing field, a field of the wrong type are 400 with what is wrong; a body
#      over api.max_body is 413;
#   5. the trace of alice's messages names their egress address and outcome;
#   6. /pools lists the three addresses; draining alice's address sends her next message from
#      the other normal address; setting it active again brings her back;
#   7. /metrics is Prometheus text with the worker and pipeline counters; /events streams a
#      statistics snapshot (Server-Sent Events);
#   8. smtpgwctl (its tables and --json) lists and releases a restriction, shows a sender's
#      counters, state and limits (alice's three messages, mallory restricted then normal, the
#      inside host's limits), drains and undrains,
#      shows the trace, lists the restriction's alert and acknowledges it, and exits 4 on a
#      wrong token, 3 when nothing answers, 1 on a refusal.
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_api.sh PATH/TO/smtpgw PATH/TO/smtpgwctl      (meson passes the built binaries)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e-api

exe=${1:?usage: e2e_api.sh PATH/TO/smtpgw PATH/TO/smtpgwctl}
ctl=${2:?usage: e2e_api.sh PATH/TO/smtpgw PATH/TO/smtpgwctl}
[[ -x $ctl ]] || sgw_fail "smtpgwctl '$ctl' is not built"
sgw_require_netns
sgw_api_prepare
port=$SGW_API_PORT token=$SGW_API_TOKEN
sgw_bed_up "$exe" "limits:
  sender:
    recipients_per_message: { max: 2, action: block_user_for_today }
$SGW_API_YAML
  max_body: 4096"
base="http://127.0.0.1:$port"
grep -q "smtpgw: api: listening on http://127.0.0.1:$port/" "$SGW_GWLOG" ||
  { sgw_log_tail "$SGW_GWLOG" 30; sgw_fail "the gateway does not say it listens on $port"; }
grep -q -- "$token" "$SGW_GWLOG" && sgw_fail "the gateway's log contains the API token"

# call METHOD PATH [api_call.py options] — sets $status and $body.
call() {
  local out
  out=$("$SGW_PYTHON" "$SGW_LIB/api_call.py" "$1" "$base$2" --token "$token" "${@:3}") ||
    sgw_fail "$1 $2: the API could not be reached"
  status=$(head -n1 <<<"$out")
  body=$(tail -n +2 <<<"$out")
}
json() { "$SGW_PYTHON" -c 'import json,sys; j = json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$1" <<<"$body"; }
expect() {  # STATUS WHAT
  [[ $status == "$1" ]] || sgw_fail "$2: HTTP $status, expected $1: $body"
}
send() {
  sgw_log "swaks $1 (from $2 to $3)"
  ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --helo inside-host.test --from "$2" --to "$3" --header "Subject: $1" --body "A note." \
    --timeout 30 >"$SGW_WORK/$1.log" 2>&1
}

# (1) the token.
for path in /api/v1/health /api/v1/no-such-thing; do
  for t in "" wrong-token-of-some-length; do
    out=$("$SGW_PYTHON" "$SGW_LIB/api_call.py" GET "$base$path" ${t:+--token "$t"})
    [[ $(head -n1 <<<"$out") == 401 ]] || sgw_fail "GET $path with token '$t': $(head -n1 <<<"$out"), expected 401"
    grep -q '"missing or wrong token"' <<<"$out" || sgw_fail "GET $path: the 401 body differs: $out"
  done
done
call GET /api/v1/no-such-thing; expect 404 "a made-up path with the token"

# (2) health.
call GET /api/v1/health; expect 200 health
[[ $(json "j['status']") == ok && $(json "j['policy_version']") == 1 ]] || sgw_fail "health: $body"

# (3) a restriction, listed and released.
send alice1 alice@inside.test a@outside.test || sgw_fail "alice1: not delivered"
sgw_expect_delivered alice1 normal "${SGW_POOL_NORMAL[@]}"
if send burst eve@inside.test a@outside.test,b@outside.test,c@outside.test; then
  sgw_fail "burst: delivered over recipients_per_message 2"
fi
listed() { call GET /api/v1/restrictions; [[ $status == 200 ]] && json "[r['key'] for r in j['restrictions']]" | grep -q "eve@inside.test"; }
sgw_wait_until 10 "the API to list eve's restriction" listed
[[ $(json "[r['action'] for r in j['restrictions'] if r['key'] == 'eve@inside.test'][0]") == block_user_for_today ]] ||
  sgw_fail "restrictions: $body"
call POST /api/v1/restrictions/release --body '{"key": "eve@inside.test", "reason": "ticket 42: cleaned up"}'
expect 200 "release eve"
send eve2 eve@inside.test a@outside.test || { sgw_log_tail "$SGW_WORK/eve2.log" 30; sgw_fail "eve2: refused after the release"; }
sgw_expect_delivered eve2 normal "${SGW_POOL_NORMAL[@]}"
[[ $("$SGW_PYTHON" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT release_reason FROM restriction WHERE key = ? AND released_unix_ns IS NOT NULL", ("eve@inside.test",)).fetchone()[0])' "$SGW_WORK/smtpgw.db") == "ticket 42: cleaned up" ]] ||
  sgw_fail "the store did not record the release and its reason"
call POST /api/v1/restrictions/release --body '{"key": "eve@inside.test"}'; expect 404 "a second release"

# (4) bad requests.
call POST /api/v1/restrictions/release --body '{"key": '; expect 400 "bad JSON"
[[ $(json "j['error']") == "the body is not JSON" ]] || sgw_fail "bad JSON: $body"
call POST /api/v1/restrictions/release --body '{}'; expect 400 "no key"
[[ $(json "j['error']") == 'missing field "key"' ]] || sgw_fail "no key: $body"
call POST /api/v1/restrictions/release --body '{"key": 7}'; expect 400 "a number as key"
call POST /api/v1/restrictions/release --body '{"key": "not a key"}'; expect 400 "no key form"
call POST /api/v1/restrictions/release --body-size 8192; expect 413 "an oversize body"
call GET "/api/v1/trace?limit=abc"; expect 400 "a limit that is no number"

# (5) the trace.
call GET "/api/v1/trace?sender=alice@inside.test"; expect 200 trace
[[ $(json "len(j['messages'])") == 1 && $(json "j['messages'][0]['outcome']") == delivered ]] ||
  sgw_fail "trace: $body"
x=$(json "j['messages'][0]['egress']")
[[ $x == "$(sgw_peer_of alice1)" ]] || sgw_fail "trace: egress $x, the server saw $(sgw_peer_of alice1)"

# (6) pools: drain alice's address, then make it active again.
call GET /api/v1/pools; expect 200 pools
[[ $(json "len(j['addresses'])") == 3 ]] || sgw_fail "pools: $body"
y=${SGW_POOL_NORMAL[0]}
[[ $y == "$x" ]] && y=${SGW_POOL_NORMAL[1]}
call POST /api/v1/pools/state --body "{\"address\": \"$x\", \"state\": \"draining\"}"; expect 200 "drain $x"
send alice2 alice@inside.test a@outside.test || sgw_fail "alice2: not delivered"
sgw_expect_delivered alice2 normal "$y"
call POST /api/v1/pools/state --body "{\"address\": \"$x\", \"state\": \"active\"}"; expect 200 "undrain $x"
send alice3 alice@inside.test a@outside.test || sgw_fail "alice3: not delivered"
sgw_expect_delivered alice3 normal "$x"
call POST /api/v1/pools/state --body '{"address": "192.0.2.99", "state": "draining"}'; expect 404 "an address in no pool"
call POST /api/v1/pools/state --body "{\"address\": \"$x\", \"state\": \"listed\"}"; expect 400 "listed by hand"

# (7) metrics.
call GET /metrics; expect 200 metrics
grep -q '^smtpgw_worker_rx_packets{worker="0"} [1-9]' <<<"$body" || sgw_fail "metrics: no rx_packets"
grep -q '^smtpgw_enforce_records{worker="0"} [1-9]' <<<"$body" || sgw_fail "metrics: no enforce_records"
grep -q "^smtpgw_pool_address_state{address=\"$x\",pool=\"normal\",state=\"active\"} 1" <<<"$body" ||
  sgw_fail "metrics: no pool state line for $x"
grep -q '^smtpgw_event_queue_capacity{worker="0"} 65536$' <<<"$body" || sgw_fail "metrics: no event queue capacity"
grep -Eq '^smtpgw_event_queue_depth\{worker="0"\} [0-9]+$' <<<"$body" || sgw_fail "metrics: no event queue depth"
grep -Eq '^smtpgw_store_queued [0-9]+$' <<<"$body" || sgw_fail "metrics: no store queue depth"

# (7b) the event stream: a statistics snapshot within a second or two, with the workers'
# packets and the pools; the restriction's alert came before it (a new client sees what comes
# after it joined, so only the snapshot is waited for).
call GET /api/v1/events --until '"pools"'; expect 200 "the event stream"
grep -q '^event: stats' <<<"$body" || sgw_fail "the event stream has no stats event: $body"
grep -q '"rx_packets"' <<<"$body" || sgw_fail "the stats event has no worker packets: $body"

# (8) smtpgwctl.
printf '%s\n' "$token" >"$SGW_WORK/api.token"
sctl() { "$ctl" --url "$base" --token-file "$SGW_WORK/api.token" "$@"; }
# (eve was released today: the same limit does not restrict her again today; mallory then.)
if send burst2 mallory@inside.test a@outside.test,b@outside.test,c@outside.test; then
  sgw_fail "burst2: delivered over recipients_per_message 2"
fi
ctl_listed() { local o; o=$(sctl restrictions); grep -q "^mallory@inside.test  *sender  *sender_recipients_per_message  *block_user_for_today" <<<"$o"; }
sgw_wait_until 10 "smtpgwctl to list mallory's restriction" ctl_listed
sgw_log "smtpgwctl restrictions: $(sctl restrictions | tail -n +2)"
[[ $(sctl --json restrictions | "$SGW_PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["restrictions"]))') -ge 1 ]] ||
  sgw_fail "smtpgwctl --json restrictions"
# ctl_says PATTERN ARGS... — smtpgwctl ARGS printed a line matching PATTERN (its output is read
# whole first, so a grep that stops early never cuts smtpgwctl's pipe).
ctl_says() {
  local want=$1 o
  shift
  o=$(sctl "$@") || sgw_fail "smtpgwctl $*: exit $?"
  grep -q -- "$want" <<<"$o" || sgw_fail "smtpgwctl $*: no line matching '$want' in: $o"
}
ctl_says "^mallory@inside.test: restricted (sender_recipients_per_message" sender mallory@inside.test
ctl_says "^released mallory@inside.test" restrictions release mallory@inside.test --reason "second ticket"
ctl_says "^mallory@inside.test: normal" sender mallory@inside.test
# alice's three messages today, against her kind's limits.
ctl_says "^messages  *[0-9]*  *[0-9]*  *3\$" sender alice@inside.test
ctl_says "^sender_recipients_per_day  *3  *10000  *block_user_for_today" sender alice@inside.test
[[ $(sctl --json sender "$SGW_NET_INSIDE_HOST" | "$SGW_PYTHON" -c 'import json,sys; j = json.load(sys.stdin); print(j["counters"]["messages"]["day"] >= 5, [l["limit"] for l in j["limits"]][0])') == "True host_messages_per_minute" ]] ||
  sgw_fail "smtpgwctl sender $SGW_NET_INSIDE_HOST: $(sctl --json sender "$SGW_NET_INSIDE_HOST")"
ctl_says "draining" pools drain "$x"
ctl_says "^$x  *normal  *draining" pools
ctl_says "active" pools undrain "$x"
ctl_says "alice@inside.test .* delivered" trace --sender alice@inside.test --limit 2
ctl_says "--before-id" trace --limit 1
ctl_says "^ok " health
# The restriction raised an alert, listed open until acknowledged.
call GET "/api/v1/alerts?open=1"; expect 200 alerts
id=$(json "[a['id'] for a in j['alerts'] if a['kind'] == 'user_restricted_from_sending' and a['subject'] == 'mallory@inside.test'][0]")
ctl_says "user_restricted_from_sending  *mallory@inside.test" alerts --open
ctl_says "^acknowledged $id" alerts ack "$id" --note "spoke to mallory"
call GET "/api/v1/alerts?open=1"; expect 200 "open alerts"
[[ $(json "[a['id'] for a in j['alerts']].count($id)") == 0 ]] || sgw_fail "alert $id is still open"
call POST /api/v1/alerts/acknowledge --body "{\"id\": $id}"; expect 404 "a second acknowledgement"
grep -q "smtpgw: alert: user_restricted_from_sending mallory@inside.test" "$SGW_GWLOG" ||
  sgw_fail "the gateway's log does not show the alert"
ctl_says "^smtpgw_worker_rx_packets" metrics
set +e
"$ctl" --url "$base" --token wrong-token-xxxxxxxx health 2>"$SGW_WORK/ctl.err"; rc_auth=$?
"$ctl" --url "http://127.0.0.1:1" --token x health 2>>"$SGW_WORK/ctl.err"; rc_down=$?
sctl restrictions release nobody@inside.test 2>>"$SGW_WORK/ctl.err"; rc_refused=$?
sctl no-such-command 2>>"$SGW_WORK/ctl.err"; rc_usage=$?
sctl sender nobody@inside.test 2>>"$SGW_WORK/ctl.err"; rc_absent=$?
set -e
[[ $rc_auth == 4 && $rc_down == 3 && $rc_refused == 1 && $rc_usage == 2 && $rc_absent == 1 ]] ||
  { cat "$SGW_WORK/ctl.err" >&2; sgw_fail "smtpgwctl exit codes: auth $rc_auth (4), down $rc_down (3), refused $rc_refused (1), usage $rc_usage (2)"; }
grep -q "no restriction of nobody@inside.test is in force" "$SGW_WORK/ctl.err" ||
  sgw_fail "smtpgwctl does not print the API's message: $(cat "$SGW_WORK/ctl.err")"

sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
grep -q -- "$token" "$SGW_GWLOG" && sgw_fail "the gateway's log contains the API token"
sgw_log "PASS: token, health, restriction listed and released, bad requests, trace, drain and undrain, metrics over real HTTP, and smtpgwctl"
