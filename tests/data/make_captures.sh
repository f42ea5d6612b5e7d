#!/usr/bin/env bash
# Makes the SMTP captures in tests/data/ from real programs: two network namespaces joined by a
# veth pair (addresses exist only inside them), Debian's aiosmtpd (and a tiny CHUNKING server,
# tests/data/capture_server.py) in one, swaks and Python smtplib clients
# (tests/data/capture_clients.py) in the other, tcpdump on the server's side.
#   pipelining.pcap  swaks with PIPELINING, dot-stuffed lines, bulk headers        (Ethernet)
#   multi.pcap       smtplib: AUTH PLAIN, multipart QP + base64 attachment, RSET, a 550
#                    recipient, dot-stuffed lines; port 587                         (Ethernet)
#   large.pcap       one 2 MB message (1.5 MB base64 attachment)                     (Ethernet)
#   bdat.pcap        BDAT chunks and BDAT LAST, pipelined envelope; port 2525        (Ethernet)
#   starttls.pcap    swaks STARTTLS with a throwaway self-signed certificate         (Ethernet)
#   pipelined_rset.pcap  a raw client that runs ahead of the replies: right after a
#                    message's "." it sends MAIL, RCPT, RSET, MAIL, RCPT, DATA in the
#                    same segment, before any reply (aiosmtpd answers in order)      (Ethernet)
#   ipv6.pcap        smtplib over IPv6                                                (Ethernet)
#                    (this kernel has no 802.1Q module: VLAN decoding is unit-tested with
#                    frames built in tests/unit/analyze/packet_decode_test.cc)
#   verdicts.pcap    smtplib: a clean message, the GTUBE test message, a phishing lure in
#                    quoted-printable HTML (for `smtpgw analyze --rules`)             (Ethernet)
#   degraded.pcap    3 x 100 KB over a link with loss, duplication and reordering:
#                    nftables numgen drops 3% and dups 5% of client segments; 10% get
#                    skb priority 1:20, which HTB maps straight to a slow class that
#                    delays them behind the others (no tc filter module needed)    (Linux SLL)
# Rerunnable; needs root. Everything it creates is removed on exit, even on failure.
# usage: tests/data/make_captures.sh [OUTDIR [NAME.pcap...]]   (default: tests/data, all of them;
#        with names, only those are remade, so the others keep their bytes)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "${1:-$here}" && pwd)
only=("${@:2}")
py=/usr/bin/python3  # Debian's python, which has aiosmtpd (not a pyenv one on PATH)
cli=smtpgw-cap-cli-$$
srv=smtpgw-cap-srv-$$
tmp=$(mktemp -d)
pids=()

cleanup() {
  set +e
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  ip netns del "$cli" 2>/dev/null
  ip netns del "$srv" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

in_cli() { ip netns exec "$cli" "$@"; }
in_srv() { ip netns exec "$srv" "$@"; }

ip netns add "$cli"
ip netns add "$srv"
ip link add vc netns "$cli" type veth peer name vs netns "$srv"
for ns in "$cli" "$srv"; do
  ip -n "$ns" link set lo up
done
# One segment per packet on the wire, as a NIC would send them (no GSO super-packets).
in_cli ip link set vc gso_max_segs 1 up
in_srv ip link set vs gso_max_segs 1 up
in_cli ip addr add 10.99.0.1/24 dev vc
in_srv ip addr add 10.99.0.2/24 dev vs
in_cli ip addr add fd00:99:100::1/64 dev vc nodad
in_srv ip addr add fd00:99:100::2/64 dev vs nodad

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.capture.test \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1

start_server() {  # name, args...
  local name=$1
  shift
  in_srv "$py" "$here/capture_server.py" "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do
    grep -qs ready "$tmp/$name.log" && return 0
    sleep 0.1
  done
  echo "make_captures: server $name did not start:" >&2
  cat "$tmp/$name.log" >&2
  return 1
}
start_server smtp25 aiosmtpd 10.99.0.2 25 "$tmp/cert.pem" "$tmp/key.pem"
start_server smtp25v6 aiosmtpd fd00:99:100::2 25
start_server smtp587 aiosmtpd 10.99.0.2 587
start_server chunking chunking 10.99.0.2 2525

wanted() {  # file
  ((${#only[@]} == 0)) && return 0
  local f
  for f in "${only[@]}"; do
    [[ $f == "$1" ]] && return 0
  done
  return 1
}

capture() {  # file, interface, tcpdump options..., then -- client command...
  local file=$1 iface=$2
  wanted "$file" || return 0
  shift 2
  local opts=()
  while [[ $1 != -- ]]; do
    opts+=("$1")
    shift
  done
  shift
  # Not through in_srv: $! must be tcpdump itself (ip netns exec execs it) to get SIGINT.
  ip netns exec "$srv" tcpdump -i "$iface" -s 0 -U -Z root "${opts[@]}" -w "$tmp/cap.pcap" \
    'tcp port 25 or tcp port 587 or tcp port 2525' 2>"$tmp/tcpdump.log" &
  local tp=$!
  for _ in $(seq 50); do
    grep -q listening "$tmp/tcpdump.log" && break
    sleep 0.1
  done
  in_cli "$@"
  sleep 1  # the last ACKs and FINs
  kill -INT "$tp"
  local rc=0
  wait "$tp" || rc=$?
  if [[ ! -s $tmp/cap.pcap ]]; then
    echo "make_captures: tcpdump wrote nothing for $file (status $rc):" >&2
    cat "$tmp/tcpdump.log" >&2
    return 1
  fi
  mv "$tmp/cap.pcap" "$out/$file"
  echo "make_captures: $file: $(stat -c %s "$out/$file") bytes"
}

cat >"$tmp/body.txt" <<'BODY'
Hello Bob,

This body has lines that SMTP must dot-stuff:
.a line starting with a dot
..two dots
.
and a line that is only a dot above.
BODY

capture pipelining.pcap vs -- swaks --server 10.99.0.2 --port 25 --pipeline --silent 2 \
  --helo pipe.capture.test --from pipe@example.org --to bob@example.net,carol@example.net \
  --header "Subject: Pipelined hello" --header "Message-Id: <pipe-1@capture.test>" \
  --header "Date: Wed, 25 Nov 2026 06:00:00 +0000" --header "Precedence: list" \
  --header "List-Unsubscribe: <https://example.org/unsub>" \
  --header "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; bh=AAAA; b=BBBB" \
  --body "@$tmp/body.txt"

capture multi.pcap vs -- "$py" "$here/capture_clients.py" multi 10.99.0.2 587
capture large.pcap vs -- "$py" "$here/capture_clients.py" large 10.99.0.2 25
capture bdat.pcap vs -- "$py" "$here/capture_clients.py" bdat 10.99.0.2 2525

capture starttls.pcap vs -- swaks --server 10.99.0.2 --port 25 --tls --silent 2 \
  --helo tls.capture.test --from tls@example.org --to secret@example.net \
  --header "Subject: Encrypted"

capture pipelined_rset.pcap vs -- "$py" "$here/capture_clients.py" pipelined_rset 10.99.0.2 25
capture ipv6.pcap vs -- "$py" "$here/capture_clients.py" ipv6 fd00:99:100::2 25
capture verdicts.pcap vs -- "$py" "$here/capture_clients.py" verdicts 10.99.0.2 25

# The degraded link: client egress only, so the capture shows what reached the server.
in_cli nft -f - <<'NFT'
table ip degrade {
  chain out {
    type filter hook output priority 0; policy accept;
    tcp dport 25 numgen random mod 100 < 3 counter drop
    tcp dport 25 numgen random mod 100 < 5 counter dup to 10.99.0.2 device "vc"
    tcp dport 25 numgen random mod 100 < 10 counter meta priority set 1:20
  }
}
NFT
in_cli tc qdisc add dev vc root handle 1: htb default 10
in_cli tc class add dev vc parent 1: classid 1:10 htb rate 1gbit quantum 60000
in_cli tc class add dev vc parent 1: classid 1:20 htb rate 4mbit ceil 4mbit
capture degraded.pcap any -y LINUX_SLL -- "$py" "$here/capture_clients.py" degraded 10.99.0.2 25
in_cli nft list ruleset | grep counter | sed 's/^[[:space:]]*/make_captures: degraded: /'
