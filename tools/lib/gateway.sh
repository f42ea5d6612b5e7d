# shellcheck shell=bash
# Starting, watching and stopping the real gateway (`smtpgw run --config FILE`) from the tests
# and the demo, and the software-mode configurations they use. Needs harness.sh sourced first.
#
# The addressing plan shared by the e2e test and the demo (docs/testing.md draws it):
#   inside host 10.99.1.2/24 ── [inside port 10.99.1.1] gateway [outside port 10.99.2.1] ── 10.99.2.2/24 server
#   normal pool 10.99.2.10, 10.99.2.11; high-risk pool 10.99.2.20 (same /24 as the outside
#   port: the gateway answers ARP for them, so the server reaches them with no route).

SGW_NET_INSIDE_GW=10.99.1.1
SGW_NET_INSIDE_HOST=10.99.1.2
SGW_NET_OUTSIDE_GW=10.99.2.1
SGW_NET_OUTSIDE_HOST=10.99.2.2
SGW_POOL_NORMAL=(10.99.2.10 10.99.2.11)
SGW_POOL_HIGH_RISK=(10.99.2.20)

# sgw_yaml_list A B C — "[A, B, C]".
sgw_yaml_list() {
  local IFS=,
  local joined="$*"
  printf '[%s]' "${joined//,/, }"
}

# sgw_write_tap_config FILE FILE_PREFIX TAP_IN TAP_OUT [EXTRA_YAML] — a gateway config with two
# net_tap ports, --no-huge (the tests must not depend on, or eat, the machine's hugepages), one
# worker; EXTRA_YAML (whole sections, e.g. limits:) is appended. The bed has no DNS of its own:
# the sender-domain check is off unless EXTRA_YAML has a sender_domains: section (with a server
# the test runs), so no test depends on, or queries, the machine's resolver. SGW_POOLS_YAML, when
# set, is put inside the pools: section (named pools, a fallback).
sgw_write_tap_config() {
  local file=$1 prefix=$2 tap_in=$3 tap_out=$4 extra=${5:-}
  if [[ $extra != *"sender_domains:"* ]]; then
    extra="$extra
sender_domains:
  check: false"
  fi
  cat >"$file" <<EOF
# Written by tools/lib/gateway.sh for a software-mode run (net_tap ports, no hugepages).
eal:
  lcores: [0, 1]
  no_huge: true
  memory_mb: 512
  file_prefix: $prefix
  devices:
    - net_tap0,iface=$tap_in
    - net_tap1,iface=$tap_out
ports:
  - name: inside
    device: net_tap0
    role: inside
    address: $SGW_NET_INSIDE_GW/24
  - name: outside
    device: net_tap1
    role: outside
    address: $SGW_NET_OUTSIDE_GW/24
smtp:
  ports: [25]
  other_traffic: forward
pools:
  normal: $(sgw_yaml_list "${SGW_POOL_NORMAL[@]}")
  high_risk: $(sgw_yaml_list "${SGW_POOL_HIGH_RISK[@]}")
${SGW_POOLS_YAML:-}
$extra
EOF
}

# sgw_bed_up EXE [EXTRA_YAML] — the end-to-end test bed: two namespaces joined only through the
# gateway (EXE run, net_tap ports, config as sgw_write_tap_config with EXTRA_YAML), aiosmtpd
# (tools/lib/smtp_sink.py, offering STARTTLS, and AUTH when SGW_SINK_AUTH=1) listening on
# SGW_NET_OUTSIDE_HOST:25 in the outside one.
#
#   namespace IN                          root namespace                 namespace OUT
#   client ── TAP_IN 10.99.1.2 ═══ net_tap0 [smtpgw] net_tap1 ═══ TAP_OUT 10.99.2.2 ── aiosmtpd :25
#
# smtpgw creates its two tap interfaces in the root namespace; the bed moves them into the two
# namespaces, so every packet between client and server crosses the gateway's dataplane.
# Sets SGW_NS_IN, SGW_NS_OUT, SGW_WORK (a private directory), SGW_GWLOG, SGW_GW_PID,
# SGW_RECORD (one JSON line per message the server accepted: subject, size, sha256, peer),
# SGW_SINK_PID and SGW_PREFIX (the gateway's DPDK file prefix, for sgw_telemetry). Everything is
# removed at exit, also on failure.
sgw_bed_up() {
  local exe=$1 extra=${2:-} id=$$
  command -v swaks >/dev/null || sgw_fail "swaks is not installed (tools/setup installs it)"
  "$SGW_PYTHON" -c 'import aiosmtpd' 2>/dev/null ||
    sgw_fail "$SGW_PYTHON cannot import aiosmtpd (tools/setup installs python3-aiosmtpd)"
  # Unique per run, so a bed can run next to other suites (and other copies of itself).
  SGW_NS_IN="sgw${id}-in"
  SGW_NS_OUT="sgw${id}-out"
  local tap_in="sgw${id}i" tap_out="sgw${id}o"  # interface names: at most 15 characters
  local prefix="sgw-${SGW_TAG}-${id}"
  SGW_PREFIX=$prefix
  sgw_tmpdir
  SGW_WORK=$SGW_TMP
  sgw_netns_create "$SGW_NS_IN"
  sgw_netns_create "$SGW_NS_OUT"
  local cfg="$SGW_WORK/gateway.yaml"
  SGW_GWLOG="$SGW_WORK/gateway.log"
  sgw_write_tap_config "$cfg" "$prefix" "$tap_in" "$tap_out" "$extra"
  sgw_on_failure sgw_log_tail "$SGW_GWLOG" 80
  sgw_dpdk_forget_prefix "$prefix"
  SGW_TAP_IN=$tap_in
  SGW_TAP_OUT=$tap_out
  SGW_EXE=$exe
  sgw_bed_gateway "$cfg"
  SGW_RECORD="$SGW_WORK/received.jsonl"
  local sinklog="$SGW_WORK/sink.log"
  sgw_on_failure sgw_log_tail "$sinklog" 30
  # The server offers STARTTLS, as most do: the gateway masks it (starttls: inspect).
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=sink.outside.test \
    -keyout "$SGW_WORK/sink.key" -out "$SGW_WORK/sink.crt" >/dev/null 2>&1 ||
    sgw_fail "openssl could not make the server's certificate (tools/setup installs openssl)"
  sgw_spawn "$sinklog" ip netns exec "$SGW_NS_OUT" "$SGW_PYTHON" "$SGW_LIB/smtp_sink.py" \
    --host "$SGW_NET_OUTSIDE_HOST" --port 25 --record "$SGW_RECORD" --ready "$SGW_WORK/sink.ready" \
    --tls-cert "$SGW_WORK/sink.crt" --tls-key "$SGW_WORK/sink.key" ${SGW_SINK_AUTH:+--auth}
  SGW_SINK_PID=$SGW_PID
  sgw_wait_until 30 "aiosmtpd to listen on $SGW_NET_OUTSIDE_HOST:25" test -s "$SGW_WORK/sink.ready"
}

# sgw_bed_gateway CONFIG — starts the bed's gateway (SGW_EXE) with CONFIG, logging to
# SGW_GWLOG, and wires its two taps into the bed's namespaces (the taps go when the process
# does, so a restarted gateway is wired again).
sgw_bed_gateway() {
  local cfg=$1
  sgw_gateway_start "$SGW_EXE" "$cfg" "$SGW_GWLOG"
  sgw_gateway_wait_links "$SGW_GW_PID" "$SGW_GWLOG" 90 "$SGW_TAP_IN" "$SGW_TAP_OUT"
  sgw_gateway_wait_started "$SGW_GW_PID" "$SGW_GWLOG" "$SGW_PREFIX" 60 net_tap0 net_tap1
  sgw_log "gateway is up (pid $SGW_GW_PID); wiring $SGW_TAP_IN into $SGW_NS_IN and $SGW_TAP_OUT into $SGW_NS_OUT"
  sgw_link_into_ns "$SGW_TAP_IN" "$SGW_NS_IN" "$SGW_NET_INSIDE_HOST/24"
  ip -n "$SGW_NS_IN" route add default via "$SGW_NET_INSIDE_GW"
  sgw_link_into_ns "$SGW_TAP_OUT" "$SGW_NS_OUT" "$SGW_NET_OUTSIDE_HOST/24"
  # SMTP replies go to the pool addresses, which are on-link. This route back to the inside
  # network serves non-SMTP traffic (forwarded un-NATed, other_traffic: forward) and makes a
  # failure precise: an SMTP connection the gateway failed to NAT would still be delivered, and
  # a check of the client address names the problem instead of a client timing out.
  ip -n "$SGW_NS_OUT" route add 10.99.1.0/24 via "$SGW_NET_OUTSIDE_GW"
}

# sgw_bed_restart — after the bed's gateway died (a test killed it), starts it again with the
# same config; its output goes to a new SGW_GWLOG (gateway.N.log).
sgw_bed_restart() {
  local n=1
  while [[ -e $SGW_WORK/gateway.$n.log ]]; do n=$((n + 1)); done
  SGW_GWLOG="$SGW_WORK/gateway.$n.log"
  sgw_on_failure sgw_log_tail "$SGW_GWLOG" 80
  sgw_bed_gateway "$SGW_WORK/gateway.yaml"
}

# sgw_free_port — a TCP port free on loopback now, for a listener started next.
sgw_free_port() {
  "$SGW_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# sgw_api_prepare — the gateway's operator API for a test: a free loopback port and a random
# token. Sets SGW_API_PORT, SGW_API_TOKEN and SGW_API_YAML (the `api:` section, for
# sgw_bed_up's EXTRA_YAML), and exports SMTPGW_URL and SMTPGW_TOKEN, which smtpgwctl reads.
sgw_api_prepare() {
  SGW_API_PORT=$(sgw_free_port)
  SGW_API_TOKEN="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  SGW_API_YAML="api:
  port: $SGW_API_PORT
  token: $SGW_API_TOKEN"
  export SMTPGW_URL="http://127.0.0.1:$SGW_API_PORT" SMTPGW_TOKEN="$SGW_API_TOKEN"
}

# sgw_ctl ARGS... — smtpgwctl (SGW_CTL) against the bed's gateway; its output in $out, its exit
# status in $rc (never fails itself: the test judges both), logged in short.
sgw_ctl() {
  rc=0
  out=$("$SGW_CTL" "$@" 2>&1) || rc=$?
  sgw_log "smtpgwctl $*: exit $rc: $(head -n3 <<<"$out" | tr '\n' '|')"
}

# What the bed's server recorded (SGW_RECORD, one JSON line per accepted message), and the
# gateway's exit counters: the e2e tests' common checks.
# sgw_received FIELD VALUE — how many recorded messages have FIELD (subject, mail_from) = VALUE.
sgw_received() {
  [[ -f $SGW_RECORD ]] || { echo 0; return; }
  "$SGW_PYTHON" -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if l.strip() and json.loads(l)[sys.argv[2]] == sys.argv[3]))' \
    "$SGW_RECORD" "$1" "$2"
}
# sgw_received_once SUBJECT — true when exactly one message with it was recorded (a function,
# so that sgw_wait_until evaluates it at every poll).
sgw_received_once() { [[ $(sgw_received subject "$1") == 1 ]]; }
# sgw_peer_of SUBJECT — the client address the server saw for the message.
sgw_peer_of() {
  "$SGW_PYTHON" -c 'import json,sys; print([json.loads(l)["peer"] for l in open(sys.argv[1]) if l.strip() and json.loads(l)["subject"] == sys.argv[2]][0])' \
    "$SGW_RECORD" "$1"
}
# sgw_expect_delivered SUBJECT POOL ADDRESS... — the server recorded the message once (waiting
# up to 15 s), from one of the pool's addresses.
sgw_expect_delivered() {
  local subject=$1 pool=$2
  shift 2
  sgw_wait_until 15 "the server to record '$subject'" sgw_received_once "$subject"
  local peer
  peer=$(sgw_peer_of "$subject")
  [[ " $* " == *" $peer "* ]] ||
    sgw_fail "$subject: the server saw $peer, not an address of the $pool pool ($*)"
  sgw_log "$subject: delivered from $peer ($pool pool)"
}
# sgw_counter NAME — a counter from the stopped gateway's report in SGW_GWLOG, summed over the
# workers: "  worker0 enforce_NAME N" lines, or "  NAME   N  meaning" (the worker counters).
sgw_counter() {
  awk -v k="$1" '$2 == k { n += $3 } $1 == k { n += $2 } END { print n + 0 }' "$SGW_GWLOG"
}

# sgw_gateway_start EXE CONFIG LOG — starts `EXE run --config CONFIG` in the background with its
# output in LOG; sets SGW_GW_PID; a stop is registered for exit. ASan builds: DPDK keeps its
# heap until exit, so leak checking is off for this process (the pure libraries check leaks).
sgw_gateway_start() {
  local exe=$1 cfg=$2 log=$3
  [[ -x $exe ]] || sgw_fail "gateway binary '$exe' does not exist or is not executable"
  sgw_log "starting: $exe run --config $cfg (log: $log)"
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" sgw_spawn "$log" "$exe" run --config "$cfg"
  SGW_GW_PID=$SGW_PID
}

# Prints the last lines of a log, indented, to stderr (for failure messages).
sgw_log_tail() {
  local log=$1 n=${2:-40}
  [[ -f $log ]] || return 0
  echo "----- last $n lines of $log -----" >&2
  tail -n "$n" "$log" | sed 's/^/  | /' >&2
  echo "-----" >&2
}

# sgw_gateway_wait_links PID LOG SECONDS IFACE... — waits until every IFACE exists in this
# namespace (net_tap creates them during EAL/port start-up); fails at once, with the log, if
# the gateway exits first.
sgw_gateway_wait_links() {
  local pid=$1 log=$2 secs=$3
  shift 3
  local deadline=$((SECONDS + secs)) ifc missing
  while :; do
    if ! sgw_alive "$pid"; then
      wait "$pid" 2>/dev/null
      local rc=$?
      sgw_log_tail "$log"
      sgw_fail "the gateway exited (status $rc) before its tap interfaces appeared"
    fi
    missing=
    for ifc in "$@"; do
      ip link show "$ifc" >/dev/null 2>&1 || missing+=" $ifc"
    done
    [[ -z $missing ]] && return 0
    if ((SECONDS >= deadline)); then
      sgw_log_tail "$log"
      sgw_fail "timed out after ${secs}s waiting for the gateway's interfaces:$missing"
    fi
    sleep 0.2
  done
}

# sgw_gateway_wait_started PID LOG PREFIX SECONDS DEVICE... — waits until DPDK telemetry (the
# standard /ethdev/info, so nothing gateway-specific) reports every named device (net_tap0,
# net_virtio_user1, ...) configured and started. A tap interface must not be moved to another
# namespace before then: the tap PMD opens its queues by interface name during set-up, and
# would create a new, unconnected interface in the root namespace instead.
sgw_gateway_wait_started() {
  local pid=$1 log=$2 prefix=$3 secs=$4
  shift 4
  local deadline=$((SECONDS + secs)) dev n info pending
  while :; do
    sgw_gateway_check_alive "$pid" "$log"
    pending=
    for dev in "$@"; do
      local ok=0
      for n in 0 1 2 3 4 5 6 7; do
        info=$(sgw_telemetry "$prefix" "/ethdev/info,$n")
        [[ -z $info ]] && break
        if [[ $info == *"\"name\": \"$dev\""* && $info == *'"dev_started": 1'* ]]; then
          ok=1
          break
        fi
      done
      ((ok)) || pending+=" $dev"
    done
    [[ -z $pending ]] && return 0
    if ((SECONDS >= deadline)); then
      sgw_log_tail "$log"
      sgw_fail "timed out after ${secs}s waiting for the gateway to start its ports:$pending"
    fi
    sleep 0.3
  done
}

# sgw_gateway_check_alive PID LOG — fails (with the log) if the gateway is gone.
sgw_gateway_check_alive() {
  if ! sgw_alive "$1"; then
    wait "$1" 2>/dev/null
    local rc=$?
    sgw_log_tail "$2"
    sgw_fail "the gateway died (status $rc)"
  fi
}

# sgw_gateway_stop PID LOG — SIGINT, as an operator's Ctrl-C; the gateway must print its
# counters and exit 0 within 30 s. Fails otherwise.
sgw_gateway_stop() {
  local pid=$1 log=$2
  sgw_gateway_check_alive "$pid" "$log"
  sgw_stop_pid "$pid" INT 30
  if ((SGW_STOP_RC != 0)); then
    sgw_log_tail "$log" 60
    sgw_fail "the gateway exited with status $SGW_STOP_RC after SIGINT (expected 0)"
  fi
  sgw_log "gateway stopped cleanly (status 0)"
}

# --- a local DNS server (rbldnsd) ------------------------------------------------------------
# The blocklist monitor (dnsbl:) and the sender-domain check (sender_domains:) are pointed at a
# real rbldnsd on a loopback port, serving zone files the caller writes (and may rewrite while
# everything runs).

# sgw_rbldnsd ZONE:TYPE:FILE... — rbldnsd (as its own user, rbldns) on a free UDP port of
# 127.0.0.1 serving each ZONE from FILE (TYPE: ip4set, generic, ...) in SGW_ZONE_DIR, which is
# made (readable by rbldns, removed at exit) unless the caller made it; the files are written
# before the call (sgw_rbldnsd_zone). It re-reads a file whose time changed (-c 1). Sets
# SGW_RBLDNSD_PORT and SGW_RBLDNSD_PID (stopped at exit); returns once it listens.
sgw_rbldnsd() {
  command -v rbldnsd >/dev/null || sgw_fail "rbldnsd is not installed (tools/setup installs it)"
  sgw_rbldnsd_dir
  SGW_RBLDNSD_PORT=$("$SGW_PYTHON" -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  sgw_spawn "$SGW_ZONE_DIR/rbldnsd.log" rbldnsd -n -c 1 -u rbldns -b "127.0.0.1/$SGW_RBLDNSD_PORT" \
    -w "$SGW_ZONE_DIR" "$@"
  SGW_RBLDNSD_PID=$SGW_PID
  sgw_on_failure sgw_log_tail "$SGW_ZONE_DIR/rbldnsd.log" 20
  sgw_wait_until 30 "rbldnsd to listen on 127.0.0.1:$SGW_RBLDNSD_PORT" \
    grep -q "started" "$SGW_ZONE_DIR/rbldnsd.log"
}

# sgw_rbldnsd_dir — makes SGW_ZONE_DIR (once): a directory rbldnsd's user can read, removed at
# exit.
sgw_rbldnsd_dir() {
  [[ -n ${SGW_ZONE_DIR:-} ]] && return 0
  SGW_ZONE_DIR=$(mktemp -d /tmp/sgw-zone-XXXXXX)
  sgw_defer rm -rf "$SGW_ZONE_DIR"
  chmod 755 "$SGW_ZONE_DIR"
}

# sgw_rbldnsd_zone FILE — writes standard input as SGW_ZONE_DIR/FILE, whole (renamed into
# place), readable by rbldnsd. Its time moves on by at least a second at each write, so a
# running rbldnsd (-c 1, which compares times in seconds) sees two writes in one second as two
# changes. Call it in this shell (redirect its input, `< <(...)`, rather than pipe into it), so
# that SGW_ZONE_DIR is set here.
sgw_rbldnsd_zone() {
  sgw_rbldnsd_dir
  local file=$SGW_ZONE_DIR/$1 now old
  cat >"$file.tmp"
  chmod 644 "$file.tmp"
  now=$(date +%s)
  old=$(stat -c %Y "$file" 2>/dev/null || echo 0)
  mv "$file.tmp" "$file"
  touch -d "@$((old >= now ? old + 1 : now))" "$file"
}

# sgw_bl_zone [ADDRESS] — the zone file "bl" (served as bl.test): its test point 127.0.0.2, and
# ADDRESS listed with code 127.0.0.4 when given.
sgw_bl_zone() {
  sgw_rbldnsd_zone bl < <(
    echo ":127.0.0.2:Listed"
    echo "127.0.0.2"
    [[ -n ${1:-} ]] && echo "$1 :127.0.0.4:Seen sending spam"
  )
}
