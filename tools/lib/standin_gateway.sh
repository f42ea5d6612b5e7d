# shellcheck shell=bash
# DEVELOPMENT STAND-IN — NOT THE GATEWAY UNDER TEST.
# Used only while smtpgw could not forward yet, to develop the e2e harness: a middle namespace
# doing Linux IP forwarding with an nftables SNAT rule onto the first normal-pool address. It
# creates veth pairs named like the gateway's taps in the root namespace, so the rest of the
# harness is identical. Enabled only by SGW_DEV_STANDIN=1; the tests run smtpgw otherwise.

sgw_standin_start() {
  local tap_in=$1 tap_out=$2 ns="sgw$$-standin"
  sgw_log "DEV STAND-IN: Linux forwarding + nftables SNAT in namespace $ns (not smtpgw!)"
  sgw_netns_create "$ns"
  ip link add "$tap_in" type veth peer name gi netns "$ns"
  sgw_defer ip link del "$tap_in"
  ip link add "$tap_out" type veth peer name go netns "$ns"
  sgw_defer ip link del "$tap_out"
  ip -n "$ns" addr add "$SGW_NET_INSIDE_GW/24" dev gi
  ip -n "$ns" addr add "$SGW_NET_OUTSIDE_GW/24" dev go
  local a
  for a in "${SGW_POOL_NORMAL[@]}" "${SGW_POOL_HIGH_RISK[@]}"; do
    ip -n "$ns" addr add "$a/32" dev go
  done
  ip -n "$ns" link set gi up
  ip -n "$ns" link set go up
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$ns" nft -f - <<EOF
table ip standin {
  chain post {
    type nat hook postrouting priority srcnat;
    ip saddr 10.99.1.0/24 oifname "go" tcp dport 25 snat to ${SGW_POOL_NORMAL[0]}
  }
}
EOF
}
