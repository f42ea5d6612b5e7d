#!/usr/bin/env bash
# End-to-end operator console in a real browser: Debian's chromium (headless, through
# chromedriver and python3-selenium: tools/lib/console_browser.py) against a running gateway in
# the bed of tools/lib/gateway.sh (swaks inside, aiosmtpd outside), with
#   limits.sender.recipients_per_message: { max: 2, action: block_user_for_today }
# Asserts:
#   1. /ui/ without a session leads to the sign-in page; a wrong token is refused there with a
#      message; the right one opens the console, with an HttpOnly, SameSite=Strict cookie;
#   2. a sender restricted by the limit (swaks: 550 5.1.8) is listed on the restricted page with
#      its cause; the release needs a reason, and once given, the page confirms it — all with the
#      keyboard alone (the token typed where the focus starts, Tab to the menu and to Release,
#      Enter, the focus in the reason field);
#   3. the sender's next message is delivered (the release reached the sender table), and the
#      store recorded the reason given in the page;
#   4. the alerts page lists the restriction's alert, filtered by kind, and acknowledges it;
#   5. the pools page shows the address carol's mail left from, once rbldnsd lists it, as listed
#      on bl.test with 127.0.0.4 and used by carol; it drains the other normal address and
#      undrains it;
#   6. the trace finds a message whose sender and Subject hold HTML and script
#      ("<img src=x onerror=alert(1)>"@inside.test): shown as text, its detail names its pool and
#      the rule it hit (SUBJECT_EXCLAMATIONS) with its description, no element was injected and
#      no alert ran;
#   7. the overview's chart holds the messages sent (allowed and refused), a live sample arrives,
#      each worker's load, the pools' states and the restriction's alert are shown;
#   8. the sender look-up shows carol's messages over 24 hours and the sender limits, and says
#      an unknown key has sent nothing the table remembers;
#   9. the rules page refuses a file that does not compile, showing "95_broken.cf:2: rule
#      LOCAL_BROKEN", and keeps the active version; a good file becomes active; Roll back
#      returns to the version before;
#  10. at a phone's 390x844 every page opens from the menu and none is wider than the screen;
#  11. the browser logged no script error and no Content-Security-Policy violation (each step).
# Screenshots of each step are taken in the test's directory (kept on failure); with
# SGW_CONSOLE_SHOTS=DIR they are copied there (docs/console/ holds the README's).
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_console.sh PATH/TO/smtpgw PATH/TO/smtpgwctl     (meson passes the built binaries)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e-console

exe=${1:?usage: e2e_console.sh PATH/TO/smtpgw PATH/TO/smtpgwctl}
[[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] ||
  sgw_fail "chromium and chromium-driver are not installed (tools/setup installs them)"
"$SGW_PYTHON" -c 'import selenium' 2>/dev/null ||
  sgw_fail "$SGW_PYTHON cannot import selenium (tools/setup installs python3-selenium)"
sgw_require_netns
sgw_bl_zone
sgw_rbldnsd bl.test:ip4set:bl
sgw_api_prepare
sgw_bed_up "$exe" "$SGW_API_YAML
dnsbl:
  zones: [bl.test]
  servers: [\"127.0.0.1:$SGW_RBLDNSD_PORT\"]
  interval: 10s
  recheck_min: 1s
  timeout_ms: 500
limits:
  sender:
    recipients_per_message: { max: 2, action: block_user_for_today }"
shots=$SGW_WORK/screenshots
mkdir -p "$shots"
browse() {  # STEP ARGS... — one step of console_browser.py
  "$SGW_PYTHON" "$SGW_LIB/console_browser.py" "$SMTPGW_URL" "$SGW_API_TOKEN" "$shots" "$@" \
    >"$SGW_WORK/browser-$1.log" 2>&1 || { cat "$SGW_WORK/browser-$1.log" >&2; sgw_fail "browser: $1"; }
  while read -r l; do sgw_log "browser $1: $l"; done <"$SGW_WORK/browser-$1.log"
}
send() {  # NAME FROM TO... — swaks from the inside host; status 0 when accepted. The Subject
  # is NAME, or $subject when set.
  local name=$1 from=$2
  shift 2
  ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --helo inside-host.test --from "$from" --to "$(IFS=,; echo "$*")" \
    --header "Subject: ${subject:-$name}" --body "A note." --timeout 30 >"$SGW_WORK/$name.log" 2>&1
}

# (1) sign-in.
browse sign-in

# (2) a restriction, found and released in the page.
if send over carol@inside.test a@outside.test b@outside.test c@outside.test; then
  sgw_fail "over: three recipients were accepted past recipients_per_message 2"
fi
grep -q "550 5.1.8" "$SGW_WORK/over.log" || { sgw_log_tail "$SGW_WORK/over.log" 20; sgw_fail "over: no 550 5.1.8"; }
reason="customer called; the list was legitimate"
browse release carol@inside.test "$reason"

# (3) the release holds.
send after carol@inside.test a@outside.test || { sgw_log_tail "$SGW_WORK/after.log" 20; sgw_fail "after: carol's message was refused after the release"; }
sgw_expect_delivered after normal "${SGW_POOL_NORMAL[@]}"

# (4) the alert; (5) the address carol's mail left from listed on bl.test, shown with its zone,
# code and carol as its user; the other one drained and undrained; (6) the trace with HTML in
# the sender.
browse alerts user_restricted_from_sending carol@inside.test
x=$(sgw_peer_of after)
y=${SGW_POOL_NORMAL[0]}
[[ $y == "$x" ]] && y=${SGW_POOL_NORMAL[1]}
traced() {
  [[ $("$SGW_PYTHON" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM trace WHERE egress = ?", (sys.argv[2],)).fetchone()[0])' "$SGW_WORK/smtpgw.db" "$x" 2>/dev/null) -ge 1 ]]
}
sgw_wait_until 20 "the store to hold carol's message from $x" traced
sgw_bl_zone "$x"
listed() { grep -q "smtpgw: dnsbl: $x listed on bl.test (127.0.0.4)" "$SGW_GWLOG"; }
sgw_wait_until 40 "the gateway to see $x listed" listed
browse pools "$y" "$x" bl.test 127.0.0.4 carol@inside.test
# The sender holds a space inside its quoted local part: the gateway keys (and traces) it.
evil='"<img src=x onerror=alert(1)>"@inside.test'
# Its Subject too, with three exclamation marks: the shipped rule SUBJECT_EXCLAMATIONS (0.6, not
# spam) hits, and the detail lists it with its description.
subject='<img src=x onerror=alert(1)> Offer!!!' send evil "$evil" evil@outside.test ||
  { sgw_log_tail "$SGW_WORK/evil.log" 20; sgw_fail "evil: the message was not delivered"; }
browse trace evil@outside.test "<img src=x onerror=alert(1)>" normal SUBJECT_EXCLAMATIONS
# (7) carol looked up: her counters and her kind's limits; an unknown key said so. Then the
# overview: the messages above in its chart, live.
browse sender carol@inside.test
browse overview user_restricted_from_sending
# (8) rules: a file that does not compile is refused with its line and rule, the active version
# stays; a good one is activated, then rolled back.
cat >"$SGW_WORK/95_broken.cf" <<'CF'
describe LOCAL_BROKEN A group that never closes
body LOCAL_BROKEN /unclosed (group/
score LOCAL_BROKEN 1
CF
cat >"$SGW_WORK/96_good.cf" <<'CF'
body LOCAL_GOOD /purple monkey dishwasher/i
describe LOCAL_GOOD The phrase of the console test
score LOCAL_GOOD 6
CF
browse rules "$SGW_WORK/95_broken.cf" "95_broken.cf:2: rule LOCAL_BROKEN" "$SGW_WORK/96_good.cf"
# (9) a phone's screen: every page from the menu, none wider than the screen.
browse phone
sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
db=$SGW_WORK/smtpgw.db
got=$("$SGW_PYTHON" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT release_reason FROM restriction WHERE release_reason IS NOT NULL").fetchone()[0])' "$db") ||
  sgw_fail "the store has no released restriction"
[[ $got == "$reason" ]] || sgw_fail "the store recorded the reason '$got', not '$reason'"
sgw_log "store: released with reason '$got'"
if [[ -n ${SGW_CONSOLE_SHOTS:-} ]]; then  # the README's operator guide shows these
  for shot in overview restricted alerts pools-listed trace sender rules-refused phone-trace; do
    cp "$shots/$shot.png" "$SGW_CONSOLE_SHOTS"/
  done
fi
sgw_log "PASS: signed in (a wrong token refused), a restricted sender released through the page with a reason, its next message delivered; no script error or CSP violation"
