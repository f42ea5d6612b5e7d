# shellcheck shell=bash
# Shared shell helpers for the software-mode tests and the demo (tests/e2e, tests/integration/virtio,
# tools/demo): logging, a cleanup stack that runs on every exit path, background processes that
# are always reaped, polling with a deadline, and network namespaces.
#
# Source it, then call sgw_harness_init once:
#   source "$SGW_LIB/harness.sh"; sgw_harness_init e2e
# Everything a script creates (namespaces, processes, files) is registered with sgw_defer right
# after it is created, so an exit at any point — assertion failure, `set -e`, Ctrl-C, meson's
# timeout (SIGTERM) — undoes exactly what exists, newest first.

SGW_LIB=${SGW_LIB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
# Debian's interpreter: the python3 on PATH may be a pyenv build without python3-aiosmtpd.
SGW_PYTHON=${SGW_PYTHON:-/usr/bin/python3}
SGW_TAG=${SGW_TAG:-test}
SGW_CLEANUP=()
SGW_ON_FAILURE=()

sgw_log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "$SGW_TAG" "$*" >&2; }

# A failed assertion: says what and exits 1 (cleanup runs from the EXIT trap).
sgw_fail() {
  sgw_log "FAIL: $*"
  exit 1
}

# A test that cannot run on this machine: exit code 77 is meson's "skipped"; the reason is
# printed so a skip is never silent.
sgw_skip() {
  sgw_log "SKIP: $*"
  exit 77
}

# sgw_defer CMD ARGS... — run `CMD ARGS...` at exit (quoted now, so arguments survive as given).
# Its stderr is discarded (undoing what is already gone is not an error); stdout is kept.
sgw_defer() {
  SGW_CLEANUP+=("$(printf '%q ' "$@")")
}

# sgw_on_failure CMD ARGS... — run `CMD ARGS...` at exit, before the cleanup, only if the script
# is failing (exit status neither 0 nor 77): for printing logs while they still exist.
sgw_on_failure() {
  SGW_ON_FAILURE+=("$(printf '%q ' "$@")")
}

sgw_run_cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  set +e
  if ((rc != 0 && rc != 77)); then
    for ((i = 0; i < ${#SGW_ON_FAILURE[@]}; i++)); do
      eval "${SGW_ON_FAILURE[i]}"
    done
  fi
  for ((i = ${#SGW_CLEANUP[@]} - 1; i >= 0; i--)); do
    eval "${SGW_CLEANUP[i]}" 2>/dev/null
  done
  SGW_CLEANUP=()
  exit "$rc"
}

# Installs the traps. INT/TERM exit with the conventional codes, which runs the EXIT trap.
sgw_harness_init() {
  SGW_TAG=${1:-$SGW_TAG}
  trap sgw_run_cleanup EXIT
  trap 'sgw_log "interrupted"; exit 130' INT
  trap 'sgw_log "terminated"; exit 143' TERM
}

# sgw_poll SECONDS CMD ARGS... — polls CMD every 0.2 s until it succeeds (status 0) or SECONDS
# pass (status 1). Returns as soon as the condition holds (no fixed sleeps). Only CMD is run
# again: a $(...) among its arguments was expanded once, before the call, so put a condition
# that reads something into a function (or `bash -c '...'`).
sgw_poll() {
  local secs=$1
  shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# sgw_wait_until SECONDS WHAT CMD ARGS... — sgw_poll, failing the test (naming WHAT) on timeout.
sgw_wait_until() {
  local secs=$1 what=$2
  shift 2
  sgw_poll "$secs" "$@" || sgw_fail "timed out after ${secs}s waiting for: $what"
}

# True while PID is alive (and not a zombie).
sgw_alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $state != Z* ]]
}

# sgw_spawn LOGFILE CMD ARGS... — starts CMD in the background with stdout+stderr to LOGFILE
# and stdin from $SGW_STDIN (default /dev/null), sets SGW_PID, and registers a stop (TERM, then
# KILL after 5 s) for exit.
sgw_spawn() {
  local log=$1
  shift
  "$@" <"${SGW_STDIN:-/dev/null}" >"$log" 2>&1 &
  SGW_PID=$!
  sgw_defer sgw_stop_pid "$SGW_PID" TERM 5
}

# sgw_stop_pid PID [SIGNAL] [SECONDS] — sends SIGNAL (default TERM), waits up to SECONDS
# (default 10) for the process to end, then SIGKILLs it. Sets SGW_STOP_RC to its exit status
# (128+n when killed by signal n; 255 when it was not our child or already gone).
sgw_stop_pid() {
  local pid=$1 sig=${2:-TERM} secs=${3:-10}
  SGW_STOP_RC=255
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; SGW_STOP_RC=$?; return 0; }
  kill -s "$sig" "$pid" 2>/dev/null
  local deadline=$((SECONDS + secs))
  while sgw_alive "$pid" && ((SECONDS < deadline)); do
    sleep 0.1
  done
  if sgw_alive "$pid"; then
    sgw_log "pid $pid still alive ${secs}s after SIG$sig; killing it"
    kill -s KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  SGW_STOP_RC=$?
  return 0
}

# --- network namespaces --------------------------------------------------------------------

# Exits 77 with the reason unless this machine lets us create (and delete) a namespace.
sgw_require_netns() {
  local probe="sgw-probe-$$" err
  [[ $(id -u) -eq 0 ]] || sgw_skip "network namespaces need root (running as uid $(id -u))"
  command -v ip >/dev/null || sgw_skip "iproute2 ('ip') is not installed"
  if ! err=$(ip netns add "$probe" 2>&1); then
    sgw_skip "this machine cannot create network namespaces: $err"
  fi
  ip netns del "$probe" 2>/dev/null || true
  [[ -c /dev/net/tun ]] || sgw_skip "/dev/net/tun is missing: net_tap ports cannot be created"
}

# sgw_netns_create NAME — a fresh namespace with loopback up, deleted at exit.
sgw_netns_create() {
  ip netns add "$1" || sgw_fail "ip netns add $1"
  sgw_defer ip netns del "$1"
  ip -n "$1" link set lo up
}

# sgw_link_into_ns IFACE NS CIDR — moves a root-namespace interface (a tap the gateway created)
# into NS, gives it CIDR and brings it up. Moving an interface takes it down, hence the `up`.
sgw_link_into_ns() {
  local ifc=$1 ns=$2 cidr=$3
  ip link set "$ifc" netns "$ns" || sgw_fail "cannot move $ifc into namespace $ns"
  ip -n "$ns" addr add "$cidr" dev "$ifc" || sgw_fail "cannot add $cidr to $ifc in $ns"
  ip -n "$ns" link set "$ifc" up || sgw_fail "cannot bring $ifc up in $ns"
}

# sgw_tmpdir — a private scratch directory in $SGW_TMP, removed at exit.
# With SGW_KEEP=1 it is kept (configs, logs, messages, what the server recorded) for a look.
sgw_tmpdir() {
  SGW_TMP=$(mktemp -d "/tmp/sgw-${SGW_TAG}-$$.XXXXXX")
  if [[ ${SGW_KEEP:-0} == 1 ]]; then
    sgw_defer sgw_log "kept $SGW_TMP (SGW_KEEP=1)"
  else
    sgw_defer rm -rf "$SGW_TMP"
  fi
}

# --- DPDK processes ------------------------------------------------------------------------

# sgw_dpdk_forget_prefix PREFIX — removes /var/run/dpdk/PREFIX (EAL leaves it behind) at exit.
sgw_dpdk_forget_prefix() {
  sgw_defer rm -rf "/var/run/dpdk/$1"
}

# sgw_telemetry PREFIX COMMAND — one DPDK telemetry query against the process started with
# --file-prefix PREFIX; prints the JSON reply (e.g. {"/ethdev/stats": {...}}).
sgw_telemetry() {
  local prefix=$1 cmd=$2
  printf '%s\n' "$cmd" | "$SGW_PYTHON" /usr/bin/dpdk-telemetry.py -f "$prefix" 2>/dev/null | grep '^{' | tail -n 1
}

# sgw_json_get JSON PY_EXPR — evaluates a Python expression over the parsed JSON `j`.
sgw_json_get() {
  "$SGW_PYTHON" -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}
