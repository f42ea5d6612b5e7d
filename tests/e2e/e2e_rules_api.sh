#!/usr/bin/env bash
# End-to-end rule-set versions through the operator API: smtpgwctl pushes, lists and rolls
# back rule sets of a running gateway, in the bed of tools/lib/gateway.sh (swaks inside,
# aiosmtpd outside). The pushed set is the shipped rules plus a local file. Asserts:
#   1. a message with the phrase "QUUXBAR invoice" is delivered (no rule knows it);
#   2. a push with a regex that does not compile: smtpgwctl exits 1 and prints the compiler's
#      error with its file and line; version 0 (rules.dir) stays active; ruleset_rejected raised;
#   3. a push of the shipped rules plus a rule scoring the phrase 10: version N active, listed
#      by `rules show`; the same message is now deferred (451 4.7.1);
#   3b. the policy: a `limits:` section with a misspelt action is refused (exit 1, 422, the
#      error at policy:LINE naming the key) and the policy in force stays; one allowing a host
#      one message a minute (throttle) is published as the next policy version, listed by
#      `policy show`, and the next message gets 451 4.7.0;
#   4. the gateway stopped and started again: it compiles rule-set version N and enforces the
#      pushed policy, both from the store (its log says so), and the phrase is still spam
#      (451 4.7.1, the deferral steer and the host's count being gone with the restart);
#   5. `rules rollback` and `policy rollback`: version 0 of both in force again; the message is
#      delivered;
#   6. a roll-back to a version that does not exist is refused (exit 1, 404);
#   7. the alerts ruleset_activated and ruleset_rejected were raised.
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_rules_api.sh PATH/TO/smtpgw PATH/TO/smtpgwctl    (meson passes the built binaries)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e-rules-api

exe=${1:?usage: e2e_rules_api.sh PATH/TO/smtpgw PATH/TO/smtpgwctl}
ctl=${2:?usage: e2e_rules_api.sh PATH/TO/smtpgw PATH/TO/smtpgwctl}
[[ -x $ctl ]] || sgw_fail "smtpgwctl '$ctl' is not built"
sgw_require_netns
SGW_CTL=$ctl
sgw_api_prepare
sgw_bed_up "$exe" "$SGW_API_YAML"

phrase='QUUXBAR invoice'
send() {  # NAME — the phrase, from the inside host; the transcript in $SGW_WORK/NAME.log
  sgw_log "swaks $1"
  ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --helo inside-host.test --from frank@inside.test --to a@outside.test \
    --header "Subject: $1" --body "Please pay the $phrase today." --timeout 30 \
    >"$SGW_WORK/$1.log" 2>&1
}
expect_deferred() {  # NAME
  if send "$1"; then
    sgw_fail "$1: delivered, although the active rule set scores its phrase 10"
  fi
  grep -q "451 4.7.1" "$SGW_WORK/$1.log" ||
    { sgw_log_tail "$SGW_WORK/$1.log" 30; sgw_fail "$1: swaks did not see 451 4.7.1"; }
  [[ $(sgw_received subject "$1") == 0 ]] || sgw_fail "$1: the server received the deferred message"
  sgw_log "$1: deferred: $(grep -m1 "451 4.7.1" "$SGW_WORK/$1.log")"
}

# (1) no rule knows the phrase.
send before || { sgw_log_tail "$SGW_WORK/before.log" 30; sgw_fail "before: not delivered"; }
sgw_expect_delivered before normal "${SGW_POOL_NORMAL[@]}"

# (2) a rule set that does not compile: refused with the compiler's words; nothing changes.
local_dir="$SGW_WORK/local"
mkdir -p "$local_dir"
cat >"$local_dir/95_broken.cf" <<'CF'
body LOCAL_BROKEN /unclosed (group/
score LOCAL_BROKEN 1
CF
sgw_ctl rules push "$here/../../rules" "$local_dir/95_broken.cf" --note "broken on purpose"
[[ $rc == 1 ]] || sgw_fail "a push that does not compile: smtpgwctl exit $rc, expected 1: $out"
grep -q "422" <<<"$out" || sgw_fail "the refused push is not a 422: $out"
grep -q "95_broken.cf:1: rule LOCAL_BROKEN" <<<"$out" ||
  sgw_fail "smtpgwctl does not print the error's file, line and rule: $out"
sgw_ctl --json rules show
[[ $rc == 0 ]] || sgw_fail "rules show: exit $rc: $out"
[[ $("$SGW_PYTHON" -c 'import json,sys; print(json.loads(sys.stdin.read())["active"]["version"])' <<<"$out") == 0 ]] ||
  sgw_fail "a refused push changed the active version: $out"

# (3) the shipped rules plus the operator's rule: active, listed, and in force.
cat >"$local_dir/95_local.cf" <<'CF'
# Pushed by tests/e2e/e2e_rules_api.sh through the API.
body LOCAL_QUUXBAR /QUUXBAR invoice/i
describe LOCAL_QUUXBAR Invoice fraud phrase seen this morning
score LOCAL_QUUXBAR 10
CF
sgw_ctl rules push "$here/../../rules" "$local_dir/95_local.cf" --note "ticket 42"
[[ $rc == 0 ]] || sgw_fail "the push: exit $rc: $out"
version=$(sed -n 's/^version \([0-9]*\) active.*/\1/p' <<<"$out")
[[ -n $version && $version != 0 ]] || sgw_fail "the push did not name its version: $out"
sgw_ctl rules show
grep -q "active: version $version (api)" <<<"$out" || sgw_fail "rules show does not say version $version is active: $out"
grep -q "ticket 42" <<<"$out" || sgw_fail "rules show does not list the version's note: $out"
expect_deferred after

# (3b) the policy.
cat >"$local_dir/typo.yaml" <<'YAML'
limits:
  host:
    messages_per_minute: { max: 1, action: throttel }
YAML
sgw_ctl policy push "$local_dir/typo.yaml"
[[ $rc == 1 ]] || sgw_fail "a policy with a misspelt action: exit $rc, expected 1: $out"
grep -q "policy:3:.*limits.host.messages_per_minute" <<<"$out" ||
  sgw_fail "the refused policy's error does not name policy:3 and the key: $out"
sed 's/throttel/throttle/' "$local_dir/typo.yaml" >"$local_dir/host.yaml"
sgw_ctl policy push "$local_dir/host.yaml" --note "one a minute per host"
[[ $rc == 0 ]] || sgw_fail "the policy push: exit $rc: $out"
pversion=$(sed -n 's/^version \([0-9]*\) in force (published as policy version 2)$/\1/p' <<<"$out")
[[ -n $pversion && $pversion != 0 ]] || sgw_fail "the policy push did not say its version and policy version 2: $out"
sgw_ctl policy show
grep -q "in force: version $pversion (api)" <<<"$out" || sgw_fail "policy show: $out"
grep -q "^host.messages_per_minute  *1  *throttle" <<<"$out" || sgw_fail "policy show does not list the pushed limit: $out"
sgw_log "swaks throttled"
if ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --helo inside-host.test --from frank@inside.test --to a@outside.test \
    --header "Subject: throttled" --body "Nothing to see." --timeout 30 >"$SGW_WORK/throttled.log" 2>&1; then
  sgw_fail "throttled: delivered, although the pushed policy allows one message a minute"
fi
grep -q "451 4.7.0" "$SGW_WORK/throttled.log" ||
  { sgw_log_tail "$SGW_WORK/throttled.log" 20; sgw_fail "throttled: no 451 4.7.0"; }

# (4) a restart: the store's active version is compiled again.
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
sgw_bed_restart
grep -q "smtpgw: rules: version $version (pushed through the API) is active" "$SGW_GWLOG" ||
  { sgw_log_tail "$SGW_GWLOG" 30; sgw_fail "the restarted gateway does not scan with version $version"; }
grep -q "smtpgw: policy: policy version $pversion (pushed through the API) is in force" "$SGW_GWLOG" ||
  { sgw_log_tail "$SGW_GWLOG" 30; sgw_fail "the restarted gateway does not enforce policy version $pversion"; }
expect_deferred restarted

# (5) roll back to rules.dir.
sgw_ctl rules rollback
[[ $rc == 0 ]] || sgw_fail "rules rollback: exit $rc: $out"
grep -q "^version 0 active" <<<"$out" || sgw_fail "the roll-back did not activate version 0: $out"
sgw_ctl policy rollback
[[ $rc == 0 ]] || sgw_fail "policy rollback: exit $rc: $out"
grep -q "^version 0 in force" <<<"$out" || sgw_fail "the policy roll-back did not restore version 0: $out"
send rolled || { sgw_log_tail "$SGW_WORK/rolled.log" 30; sgw_fail "rolled: not delivered after the roll-back"; }
sgw_wait_until 15 "the server to record 'rolled'" sgw_received_once rolled

# (6) a version that does not exist.
sgw_ctl rules rollback --to 9999
[[ $rc == 1 ]] || sgw_fail "a roll-back to version 9999: exit $rc, expected 1: $out"
grep -q "404" <<<"$out" || sgw_fail "the roll-back to version 9999 is not a 404: $out"

# (7) the alerts, in the store across the restart.
sgw_ctl --json alerts list
for kind in ruleset_rejected ruleset_activated; do
  grep -q "\"$kind\"" <<<"$out" || sgw_fail "no $kind alert: $out"
done
sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
sgw_log "PASS: rule sets pushed, refused with their errors, kept across a restart and rolled back"
