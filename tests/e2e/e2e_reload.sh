#!/usr/bin/env bash
# End-to-end reload: an operator pushes a rule, then a sending limit, while the gateway runs,
# through real TCP stacks (swaks inside, aiosmtpd outside, tools/lib/gateway.sh's sgw_bed_up).
# rules.dir is a copy of the shipped rules the test owns; the config file is the bed's. Asserts:
#   1. a message with the phrase "ZORBLAX wire transfer" is delivered (no rule knows it);
#   2. the test adds a rule file scoring that phrase 10 and sends SIGHUP: the gateway logs
#      "rules: reloaded";
#   3. the same message is now deferred, 451 4.7.1 (spam on a normal flow), and the server
#      receives nothing more;
#   4. a rule file with a regex that does not compile, and SIGHUP: the gateway prints the error
#      with its file and line and "rules: reload failed"; the rule set in use stays: the phrase
#      is still spam (its retry, from the high-risk address the deferral steered the host to, is
#      delivered there and counted as spam released);
#   5. a `limits:` section with a misspelt action, and SIGHUP: the gateway names the config
#      file, line and key and keeps the policy in use (the next message is delivered);
#   6. the action spelt right (one message per minute per host, throttle), and SIGHUP: the
#      gateway logs "policy: reloaded (version 2)" and the next message gets 451 4.7.0;
#   7. the exit counters agree.
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_reload.sh PATH/TO/smtpgw        (meson passes the built binary)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e-reload

exe=${1:?usage: e2e_reload.sh PATH/TO/smtpgw}
sgw_require_netns
rules_dir=$(mktemp -d /tmp/sgw-rules-XXXXXX)
sgw_defer rm -rf "$rules_dir"
cp "$here/../../rules/"*.cf "$rules_dir/"
sgw_bed_up "$exe" "rules:
  dir: $rules_dir"

phrase='ZORBLAX wire transfer'
# send NAME BODY — swaks from the inside host; its transcript in $SGW_WORK/NAME.log.
send() {
  sgw_log "swaks $1"
  ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --helo inside-host.test --from frank@inside.test --to a@outside.test \
    --header "Subject: $1" --body "$2" --timeout 30 >"$SGW_WORK/$1.log" 2>&1
}
# reloaded N — true once the gateway's log says "rules: reloaded" N times.
reloaded() { [[ $(grep -c "smtpgw: rules: reloaded" "$SGW_GWLOG") == "$1" ]]; }
failed_once() { grep -q "smtpgw: rules: reload failed" "$SGW_GWLOG"; }

# (1) no rule knows the phrase.
send before "Please make the $phrase today." ||
  { sgw_log_tail "$SGW_WORK/before.log" 30; sgw_fail "before: not delivered"; }
sgw_expect_delivered before normal "${SGW_POOL_NORMAL[@]}"

# (2) the operator's new rule, pushed with SIGHUP.
cat >"$rules_dir/95_local.cf" <<'EOF'
# Added by tests/e2e/e2e_reload.sh while the gateway runs.
body LOCAL_ZORBLAX /ZORBLAX wire transfer/i
describe LOCAL_ZORBLAX Payment fraud phrase seen this morning
score LOCAL_ZORBLAX 10
EOF
kill -HUP "$SGW_GW_PID"
sgw_wait_until 60 "the gateway to reload its rules" reloaded 1
sgw_log "gateway: $(grep -m1 "smtpgw: rules: reloaded" "$SGW_GWLOG")"

# (3) the same message is spam now.
if send after "Please make the $phrase today."; then
  sgw_fail "after: delivered, although the reloaded rules score its phrase 10"
fi
grep -q "451 4.7.1" "$SGW_WORK/after.log" ||
  { sgw_log_tail "$SGW_WORK/after.log" 30; sgw_fail "after: swaks did not see 451 4.7.1"; }
[[ $(sgw_received subject after) == 0 ]] || sgw_fail "after: the server received the deferred message"
sgw_log "after: deferred: $(grep -m1 "451 4.7.1" "$SGW_WORK/after.log")"

# (4) a rule file that does not compile: reported, and the rule set in use stays.
cat >"$rules_dir/96_broken.cf" <<'EOF'
body LOCAL_BROKEN /unclosed (group/
score LOCAL_BROKEN 1
EOF
kill -HUP "$SGW_GW_PID"
sgw_wait_until 60 "the gateway to report the broken rule file" failed_once
grep -q "96_broken.cf:1" "$SGW_GWLOG" ||
  { sgw_log_tail "$SGW_GWLOG" 20; sgw_fail "the reload's error does not name 96_broken.cf:1"; }
sgw_log "gateway: $(grep -m1 "96_broken.cf:1" "$SGW_GWLOG")"
send retry "Please make the $phrase today." ||
  { sgw_log_tail "$SGW_WORK/retry.log" 30; sgw_fail "retry: not delivered from the high-risk pool"; }
sgw_expect_delivered retry high_risk "${SGW_POOL_HIGH_RISK[@]}"

# (5) a policy the loader refuses: named, and the policy in use stays.
rm "$rules_dir/96_broken.cf"
cat >>"$SGW_WORK/gateway.yaml" <<'EOF'
limits:
  host:
    messages_per_minute: { max: 1, action: throttel }
EOF
line=$(grep -n "throttel" "$SGW_WORK/gateway.yaml" | cut -d: -f1)
config_failed() { grep -q "smtpgw: reload failed: .*gateway.yaml rejected" "$SGW_GWLOG"; }
kill -HUP "$SGW_GW_PID"
sgw_wait_until 60 "the gateway to reject the misspelt action" config_failed
grep -q "gateway.yaml:$line:.*limits.host.messages_per_minute" "$SGW_GWLOG" ||
  { sgw_log_tail "$SGW_GWLOG" 20; sgw_fail "the reload's error does not name gateway.yaml:$line"; }
sgw_log "gateway: $(grep -m1 "gateway.yaml:$line:" "$SGW_GWLOG")"
send still "Nothing to see here." ||
  { sgw_log_tail "$SGW_WORK/still.log" 30; sgw_fail "still: refused after a rejected reload"; }
sgw_expect_delivered still high_risk "${SGW_POOL_HIGH_RISK[@]}"

# (6) the same limit spelt right: this host has sent four messages this minute, one is allowed.
sed -i 's/throttel/throttle/' "$SGW_WORK/gateway.yaml"
policy_reloaded() { grep -q "smtpgw: policy: reloaded (version 2)" "$SGW_GWLOG"; }
kill -HUP "$SGW_GW_PID"
sgw_wait_until 60 "the gateway to publish the new policy" policy_reloaded
if send limited "Nothing to see here either."; then
  sgw_fail "limited: delivered, although the reloaded policy allows one message a minute"
fi
grep -q "451 4.7.0" "$SGW_WORK/limited.log" ||
  { sgw_log_tail "$SGW_WORK/limited.log" 30; sgw_fail "limited: swaks did not see 451 4.7.0"; }
[[ $(sgw_received subject limited) == 0 ]] || sgw_fail "limited: the server received it"
sgw_log "limited: throttled: $(grep -m1 "451 4.7.0" "$SGW_WORK/limited.log")"

# (7) the gateway's account: one deferral, one spam released on high risk (the rule still in
# force after the failed reload), two spam verdicts in all, one message throttled.
sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
grep -q "smtpgw: alert: ruleset_activated rules:" "$SGW_GWLOG" || sgw_fail "no ruleset_activated alert"
grep -q "smtpgw: alert: ruleset_rejected rules:" "$SGW_GWLOG" || sgw_fail "no ruleset_rejected alert"
for want in enforce_spam_deferred=1 enforce_spam_released=1 enforce_spam=2 enforce_throttled=1; do
  k=${want%=*}
  v=${want#*=}
  [[ $(sgw_counter "$k") == "$v" ]] || sgw_fail "gateway counter $k is $(sgw_counter "$k"), expected $v"
done
sgw_log "PASS: a rule and a limit pushed with SIGHUP apply to the next message; a broken rule or config is reported and what is in use stays"
