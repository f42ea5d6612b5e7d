# shellcheck shell=bash
# A private Postfix instance as an inside relay, for the e2e tests and the demo: its own config,
# queue, log and mailboxes under one directory, run in a network namespace, relaying everything
# to a relay host (the server outside, through the gateway). Needs harness.sh sourced first.
#
# Mail for inside.test stays in the instance: the virtual(8) agent writes each local user's
# mailbox (mbox) as DIR/mail/USER, which is where Postfix's non-delivery reports to local senders
# land. The settings, and why:
# - Connection caching stays at Postfix's defaults (smtp_connection_cache_on_demand = yes), as
#   on a real relay; the gateway ends every session it refuses or defers, so a connection that
#   carried a refused message is never reused.
# - Retries happen only when the caller flushes the queue (sgw_postfix_flush):
#   minimal_backoff_time, the queue run and the like are an hour, so "the message stays queued"
#   is a fact and not a race with Postfix's own retry. in_flow_delay = 0: submissions are not
#   paced.
# - smtp_tls_security_level = may, as Debian sets it up (the gateway masks the server's
#   STARTTLS, so none is expected; smtp_tls_loglevel = 1 logs any).
# - No DNS: the relay host is a bracketed address, smtpd does no reverse lookups.
# - smtp_bind_address = the instance's address, so two instances in one namespace each send
#   from their own inside address (the gateway counts and steers per inside host).
#
# Every function takes the instance's directory DIR; the namespace and address are kept there.

# sgw_postfix_start DIR NS ADDRESS RELAYHOST USER... — writes the instance's config below DIR
# (a new directory; its parent is made 0711, so that Postfix's daemons, which run as postfix,
# and its virtual agent, as nobody, reach it), listening on ADDRESS:25 in namespace NS (ADDRESS
# must be there already), relaying to RELAYHOST (e.g. [10.99.2.2]:25), with a mailbox for each
# USER@inside.test (and postmaster), and starts it. A stop is registered for exit, and the
# instance's log is printed on failure. Fails when Postfix is missing or does not start.
sgw_postfix_start() {
  local dir=$1 ns=$2 address=$3 relayhost=$4
  shift 4
  local prog
  for prog in postfix postqueue postconf; do
    command -v "$prog" >/dev/null || sgw_fail "$prog is not installed (tools/setup installs postfix)"
  done
  local conf=$dir/etc
  chmod 0711 "$(dirname "$dir")"
  mkdir -p "$conf" "$dir/queue" "$dir/data" "$dir/mail"
  chown postfix: "$dir/data"
  chown nobody:nogroup "$dir/mail"
  echo "$ns" >"$dir/netns"
  echo "$address" >"$dir/address"
  cat >"$conf/main.cf" <<EOF
# A relay for the inside, written by tools/lib/postfix.sh.
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
myhostname = relay-${address//./-}.inside.test
mydomain = inside.test
myorigin = \$mydomain
inet_interfaces = $address
inet_protocols = ipv4
mynetworks = 127.0.0.0/8, $address/32
smtp_bind_address = $address
smtpd_peername_lookup = no
biff = no
alias_maps =
alias_database =
# Local users (the senders) have mailboxes; everything else goes to the relay host.
mydestination =
virtual_mailbox_domains = inside.test
virtual_mailbox_base = $dir/mail
virtual_mailbox_maps = texthash:$conf/mailboxes
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(getent group nogroup | cut -d: -f3)
relayhost = $relayhost
smtp_tls_security_level = may
# Logs each TLS session it establishes (none is expected).
smtp_tls_loglevel = 1
# Retries only when the queue is flushed (postqueue -f).
minimal_backoff_time = 1h
maximal_backoff_time = 1h
queue_run_delay = 1h
in_flow_delay = 0
EOF
  # Each local user's mailbox is a file (mbox) named after it; postmaster takes what Postfix
  # reports to it.
  local user
  for user in "$@" postmaster; do
    echo "$user@inside.test $user"
  done >"$conf/mailboxes"
  # Debian's master.cf with no chroot (the queue is not under /var/spool/postfix) and only the
  # services a relay needs; postlog writes maillog_file.
  cat >"$conf/master.cf" <<'EOF'
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
  sgw_on_failure sgw_log_tail "$dir/maillog" 60
  sgw_defer sgw_postfix_stop "$dir"
  sgw_log "starting Postfix on $address in $ns (config $conf, log $dir/maillog)"
  # `postfix start` returns once the master daemon has bound its sockets; the master stays in
  # the namespace it was started in.
  sgw_postfix_cmd "$dir" postfix -c "$conf" start >"$dir/start.log" 2>&1 ||
    { sgw_log_tail "$dir/start.log" 30; sgw_fail "Postfix did not start"; }
}

# sgw_postfix_cmd DIR CMD ARGS... — runs CMD in the instance's namespace: Postfix's commands
# check inet_interfaces against the addresses they see.
sgw_postfix_cmd() {
  local ns
  ns=$(<"$1/netns")
  shift
  ip netns exec "$ns" "$@"
}

# sgw_postfix_stop DIR — `postfix stop` (which waits 5 s, then kills the master's process
# group); if the master still lives, its process group is killed here.
sgw_postfix_stop() {
  local dir=$1 pid
  sgw_postfix_cmd "$dir" postfix -c "$dir/etc" stop >/dev/null 2>&1
  pid=$(sed -n '1s/ //gp' "$dir/queue/pid/master.pid" 2>/dev/null)
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid"
  return 0
}

# sgw_postfix_submit DIR NAME FROM BODY TO... — swaks (in the instance's namespace, from the
# instance's own address, which is in its mynetworks) submits a message with Subject NAME to
# the instance; prints the queue id Postfix gave it. Its transcript is in DIR/NAME.log. Fails
# when Postfix does not accept it.
sgw_postfix_submit() {
  local dir=$1 name=$2 from=$3 body=$4
  shift 4
  local to address id
  to=$(IFS=,; echo "$*")
  address=$(<"$dir/address")
  sgw_log "submit $name: <$from> to $to"
  sgw_postfix_cmd "$dir" swaks --server "$address" --port 25 --local-interface "$address" \
    --helo client.inside.test --from "$from" --to "$to" \
    --header "Subject: $name" --body "$body" --timeout 30 >"$dir/$name.log" 2>&1 ||
    { sgw_log_tail "$dir/$name.log" 30; sgw_fail "$name: Postfix did not accept the submission"; }
  id=$(sed -n 's/.*250 2\.0\.0 Ok: queued as \([0-9A-Za-z]*\).*/\1/p' "$dir/$name.log")
  [[ -n $id ]] || { sgw_log_tail "$dir/$name.log" 30; sgw_fail "$name: no queue id in Postfix's reply"; }
  echo "$id"
}

# sgw_postfix_queue DIR — what the instance's queue holds, one line per recipient:
# "QUEUE_ID QUEUE RECIPIENT DELAY_REASON" (nothing when it is empty).
sgw_postfix_queue() {
  sgw_postfix_cmd "$1" postqueue -c "$1/etc" -j | "$SGW_PYTHON" -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    for r in m["recipients"]:
        print(m["queue_id"], m["queue_name"], r["address"], r.get("delay_reason", ""))'
}

# sgw_postfix_queue_entry DIR ID — one line per recipient of queue file ID still in the queue:
# "QUEUE RECIPIENT DELAY_REASON" (nothing once the message has left the queue).
sgw_postfix_queue_entry() {
  sgw_postfix_queue "$1" | awk -v id="$2" '$1 == id { sub(/^[^ ]+ /, ""); print }'
}

# sgw_postfix_flush DIR — `postqueue -f`: every queued message is tried again now.
sgw_postfix_flush() {
  sgw_postfix_cmd "$1" postqueue -c "$1/etc" -f
}

# sgw_postfix_log DIR ID — the instance's log lines about queue file ID.
sgw_postfix_log() {
  grep -F " $2: " "$1/maillog" || true
}

# sgw_postfix_bounces DIR USER SUBJECT — every recipient Postfix reported as failed to
# USER@inside.test in non-delivery reports for the message SUBJECT: "RECIPIENT STATUS
# DIAGNOSTIC" per line, from the reports' message/delivery-status parts (RFC 3464), with the
# human-readable part checked to name the same recipient.
sgw_postfix_bounces() {
  "$SGW_PYTHON" - "$1/mail/$2" "$3" <<'PY'
import email.policy, mailbox, os, sys
path, subject = sys.argv[1], sys.argv[2]
if not os.path.exists(path):
    sys.exit(0)
for msg in mailbox.mbox(path, factory=None):
    msg = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    if msg.get("Content-Type", "").find("multipart/report") < 0:
        continue
    parts = list(msg.walk())
    headers = [p for p in parts if p.get_content_type() in ("text/rfc822-headers", "message/rfc822")]
    text = "".join(p.get_content() for p in parts if p.get_content_type() == "text/plain")
    if not any(("Subject: " + subject + "\n") in p.as_string() for p in headers):
        continue
    for p in parts:
        if p.get_content_type() != "message/delivery-status":
            continue
        for block in p.get_payload()[1:]:  # the first block is per message
            if block.get("Action", "").strip() != "failed":
                continue
            rcpt = block["Final-Recipient"].split(";", 1)[1].strip()
            diag = " ".join(block.get("Diagnostic-Code", "").split(";", 1)[-1].split())
            named = "<" + rcpt + ">" in text
            print(rcpt, block["Status"].strip(), diag if named else "(not named in the report's text)")
PY
}
