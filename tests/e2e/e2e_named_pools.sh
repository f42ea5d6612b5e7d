#!/usr/bin/env bash
# End-to-end named pools: tenants' hosts leave from their own egress addresses. swaks inside
# (three source addresses), aiosmtpd outside, the gateway between them (the bed of
# tools/lib/gateway.sh) with
#   pools.named: tenant-a [10.99.2.30] bound to the host 10.99.1.3/32,
#                acme     [10.99.2.40] bound to organisation acme (limits.organisations:
#                                      10.99.1.4/32)
# Asserts, each from what the server saw (the client address of each message):
#   1. a message from 10.99.1.2 (bound to nothing) leaves from the normal pool, one from
#      10.99.1.3 from tenant-a's address, one from 10.99.1.4 from acme's;
#   2. GTUBE from 10.99.1.3 is deferred, and its retry leaves from the high-risk pool, not from
#      tenant-a's: spam steering wins over the binding;
#   3. `smtpgwctl pools` shows each pool with its bound prefixes; `smtpgwctl trace --pool
#      tenant-a` lists the message of step 1 and not the normal pool's; `--verdict spam` lists
#      the steered retry; an unknown pool is an error (exit 1) that names the pools;
#   4. with acme's only address drained, 10.99.1.4's next connection is refused (RST: the pool
#      never falls back onto another pool) and nothing reaches the server; the drain outlives a
#      restart (the store keeps it); undrained, the host leaves from acme's address again;
#   5. the gateway's exit counters count the bindings on named pools and the refused SYNs.
# Skips (77) only when the machine cannot create network namespaces.
#
# Usage: e2e_named_pools.sh PATH/TO/smtpgw PATH/TO/smtpgwctl    (meson passes the built binaries)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SGW_LIB=$(cd "$here/../../tools/lib" && pwd)
# shellcheck source=../../tools/lib/harness.sh
source "$SGW_LIB/harness.sh"
# shellcheck source=../../tools/lib/gateway.sh
source "$SGW_LIB/gateway.sh"
sgw_harness_init e2e-named-pools

exe=${1:?usage: e2e_named_pools.sh PATH/TO/smtpgw PATH/TO/smtpgwctl}
SGW_CTL=${2:?usage: e2e_named_pools.sh PATH/TO/smtpgw PATH/TO/smtpgwctl}
[[ -x $SGW_CTL ]] || sgw_fail "smtpgwctl '$SGW_CTL' is not built"
sgw_require_netns
tenant_host=10.99.1.3 tenant_addr=10.99.2.30
acme_host=10.99.1.4 acme_addr=10.99.2.40
sgw_api_prepare
SGW_POOLS_YAML="  named:
    - name: tenant-a
      addresses: [$tenant_addr]
      hosts: [$tenant_host/32]
    - name: acme
      addresses: [$acme_addr]
      organisations: [acme]"
sgw_bed_up "$exe" "$SGW_API_YAML
limits:
  organisations: [{prefix: $acme_host/32, name: acme}]"
add_hosts() {  # the inside host's two more addresses (again after a restart: a new tap)
  for a in "$tenant_host" "$acme_host"; do
    ip -n "$SGW_NS_IN" addr add "$a/24" dev "$SGW_TAP_IN"
  done
}
add_hosts

gtube='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
# send NAME SOURCE BODY — swaks from SOURCE (an address of the inside host); its transcript in
# $SGW_WORK/NAME.log. Returns swaks' status (0: the server accepted the message).
send() {
  local name=$1 source=$2 body=$3
  sgw_log "swaks $name: from $source"
  ip netns exec "$SGW_NS_IN" swaks --server "$SGW_NET_OUTSIDE_HOST" --port 25 \
    --local-interface "$source" --helo inside-host.test --from "$name@inside.test" \
    --to a@outside.test --header "Subject: $name" --body "$body" --timeout 30 \
    >"$SGW_WORK/$name.log" 2>&1
}
deliver() {  # NAME SOURCE POOL ADDRESS... — sent and delivered from one of the addresses
  local name=$1 source=$2
  shift 2
  send "$name" "$source" "A note." || { sgw_log_tail "$SGW_WORK/$name.log" 30; sgw_fail "$name: not delivered"; }
  sgw_expect_delivered "$name" "$@"
}

# (1) each host from its own pool.
deliver plain "$SGW_NET_INSIDE_HOST" normal "${SGW_POOL_NORMAL[@]}"
deliver tenant "$tenant_host" tenant-a "$tenant_addr"
deliver acme "$acme_host" acme "$acme_addr"

# (2) spam from a bound host: deferred, then retried from high risk.
if send spam "$tenant_host" "$gtube"; then
  sgw_fail "spam: GTUBE was accepted on tenant-a's flow"
fi
grep -q "451 4.7.1" "$SGW_WORK/spam.log" || { sgw_log_tail "$SGW_WORK/spam.log" 30; sgw_fail "spam: no 451 4.7.1"; }
send spam "$tenant_host" "$gtube" || { sgw_log_tail "$SGW_WORK/spam.log" 30; sgw_fail "spam retry: not delivered"; }
sgw_expect_delivered spam high_risk "${SGW_POOL_HIGH_RISK[@]}"

# (3) the pools and the trace through smtpgwctl.
sgw_ctl pools
(( rc == 0 )) || sgw_fail "smtpgwctl pools: exit $rc: $out"
grep -Eq "^tenant-a +1 +0 +0 +$tenant_host/32" <<<"$out" || { echo "$out" >&2; sgw_fail "pools: tenant-a's binding not shown"; }
grep -Eq "^acme +1 +0 +0 +$acme_host/32" <<<"$out" || { echo "$out" >&2; sgw_fail "pools: acme's binding not shown"; }
grep -Eq "^$tenant_addr +tenant-a +active" <<<"$out" || { echo "$out" >&2; sgw_fail "pools: $tenant_addr not listed in tenant-a"; }
traced() {  # the trace has the message from SOURCE in POOL
  sgw_ctl trace --pool "$2"
  (( rc == 0 )) && grep -Eq " $1 +$3@inside.test " <<<"$out"
}
sgw_wait_until 10 "the trace to list tenant's message in tenant-a" traced "$tenant_host" tenant-a tenant
grep -q "plain@inside.test" <<<"$out" && sgw_fail "trace --pool tenant-a lists the normal pool's message"
sgw_ctl trace --verdict spam
grep -Eq " $tenant_host +spam@inside.test .* high_risk +${SGW_POOL_HIGH_RISK[0]} +spam " <<<"$out" ||
  { echo "$out" >&2; sgw_fail "trace --verdict spam: the steered retry is not listed from high_risk"; }
sgw_ctl trace --pool nosuch
(( rc == 1 )) && grep -q 'no pool is named "nosuch" (pools: normal, high_risk, tenant-a, acme)' <<<"$out" ||
  sgw_fail "trace --pool nosuch: exit $rc, $out"

# (4) a drained pool never falls back onto another.
sgw_ctl pools drain "$acme_addr"
(( rc == 0 )) || sgw_fail "smtpgwctl pools drain: exit $rc: $out"
if send drained "$acme_host" "A note."; then
  sgw_fail "drained: the message was accepted with acme's only address drained"
fi
sleep 1
[[ $(sgw_received subject drained) == 0 ]] || sgw_fail "drained: the server received the message"
sgw_log "drained: swaks saw: $(grep -m1 -iE "connection refused|reset|error" "$SGW_WORK/drained.log" || tail -n1 "$SGW_WORK/drained.log")"
# A restart keeps the drain; the first run's counters are read from its log first.
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
named=$(sgw_counter nat_named_pool) refused=$(sgw_counter nat_no_active_address)
sgw_bed_restart
add_hosts
grep -q "1 pool addresses draining as before the restart" "$SGW_GWLOG" ||
  { sgw_log_tail "$SGW_GWLOG" 30; sgw_fail "restart: the drain was not applied again"; }
sgw_ctl pools
grep -Eq "^$acme_addr +acme +draining" <<<"$out" || { echo "$out" >&2; sgw_fail "restart: $acme_addr is not draining"; }
if send drained-again "$acme_host" "A note."; then
  sgw_fail "drained-again: the message was accepted after the restart with acme's address drained"
fi
sgw_ctl pools undrain "$acme_addr"
(( rc == 0 )) || sgw_fail "smtpgwctl pools undrain: exit $rc: $out"
deliver undrained "$acme_host" acme "$acme_addr"

# (5) the counters.
sgw_stop_pid "$SGW_SINK_PID" TERM 10
sgw_gateway_stop "$SGW_GW_PID" "$SGW_GWLOG"
named=$((named + $(sgw_counter nat_named_pool))) refused=$((refused + $(sgw_counter nat_no_active_address)))
(( named >= 3 )) || sgw_fail "nat_named_pool is $named; three bindings or more were made on named pools"
(( refused >= 2 )) || sgw_fail "nat_no_active_address is $refused; the drained pool's SYNs (two runs) were refused"
sgw_log "counters: nat_named_pool=$named nat_no_active_address=$refused"
sgw_log "PASS: hosts bound by prefix and by organisation leave from their pools, spam from high risk; trace and pools show them; a drained pool refuses instead of falling back"
