#!/usr/bin/python3
"""Dataplane test over net_pcap ports (--no-huge): captures go in, captures come out.

The inside capture holds what an inside host sends (ARP for its gateway, an SMTP SYN and
data, a non-SMTP UDP datagram, malformed frames); the outside capture holds what the internet
sends back (ARP for a pool address, the server's SYN-ACK to the NAT binding). The test runs
`smtpgw run`, stops it, reads both output captures with scapy and asserts: ARP answered for the
gateway's own address and for the pool address, the SYN and data translated onto the pool
address with valid checksums and a decremented TTL, the SYN-ACK translated back to the host,
the UDP datagram routed unchanged, and every malformed frame dropped under its own counter.

usage: pcap_nat_test.py SMTPGW_BINARY
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from scapy.all import ARP, Ether, IP, TCP, UDP, Raw, rdpcap, wrpcap  # noqa: E402

GW_IN_MAC = "02:00:00:00:01:01"
GW_OUT_MAC = "02:00:00:00:02:01"
HOST_MAC = "02:00:00:00:01:02"
ROUTER_MAC = "02:00:00:00:02:02"
HOST = "10.98.1.2"
SERVER = "192.0.2.25"
POOL = "10.98.2.10"
NAT_PORT = 20000  # first port of worker 0's slice with nat_port_min 20000

CONFIG = """
eal:
  lcores: [0, 1]
  no_huge: true
  memory_mb: 128
  file_prefix: {prefix}
  devices:
    - "net_pcap0,rx_pcap={d}/in_inside.pcap,tx_pcap={d}/out_inside.pcap"
    - "net_pcap1,rx_pcap={d}/in_outside.pcap,tx_pcap={d}/out_outside.pcap"
ports:
  - {{ name: inside, device: net_pcap0, role: inside, address: 10.98.1.1/24, mac: "{in_mac}" }}
  - {{ name: outside, device: net_pcap1, role: outside, address: 10.98.2.1/24, mac: "{out_mac}" }}
routes:
  - {{ prefix: 0.0.0.0/0, via: 10.98.2.2, port: outside }}
neighbors:
  - {{ address: 10.98.2.2, mac: "{router_mac}", port: outside }}
smtp:
  ports: [25]
  other_traffic: forward
pools:
  normal: [{pool}]
  high_risk: [10.98.2.20]
flows:
  nat_port_min: 20000
  nat_port_max: 29999
telemetry:
  enabled: false
# The test is about L2-L4 and NAT; compiling the shipped rules would take most of its time
# under ASan, and its segments carry no message to scan.
rules:
  enabled: false
"""


def checksums_valid(pkt):
    """Recomputes the IP and TCP/UDP checksums with scapy and compares them to the wire."""
    ip = pkt[IP]
    fresh = IP(bytes(ip))
    del fresh.chksum
    l4 = TCP if TCP in fresh else UDP if UDP in fresh else None
    if l4 is not None:
        del fresh[l4].chksum
    rebuilt = IP(bytes(fresh))
    ok = rebuilt.chksum == ip.chksum
    if l4 is not None:
        ok = ok and rebuilt[l4].chksum == ip[l4].chksum
    return ok


def main():
    binary = sys.argv[1]
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory(prefix="smtpgw-pcap-") as d:
        syn = Ether(src=HOST_MAC, dst=GW_IN_MAC) / IP(src=HOST, dst=SERVER, ttl=64) / TCP(
            sport=40000, dport=25, flags="S", seq=1000)
        data = Ether(src=HOST_MAC, dst=GW_IN_MAC) / IP(src=HOST, dst=SERVER, ttl=64) / TCP(
            sport=40000, dport=25, flags="PA", seq=1001, ack=5001) / Raw(b"EHLO client.example\r\n")
        inside = [
            Ether(src=HOST_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(
                op=1, hwsrc=HOST_MAC, psrc=HOST, pdst="10.98.1.1"),
            syn,
            data,
            Ether(src=HOST_MAC, dst=GW_IN_MAC) / IP(src=HOST, dst="198.51.100.7", ttl=64) / UDP(
                sport=5353, dport=9999) / Raw(b"not smtp"),
            # Malformed: bad TCP checksum, truncated IPv4 header, bad IPv4 checksum, not our MAC,
            # TCP to SMTP without a binding (no SYN), TTL 1.
            Ether(src=HOST_MAC, dst=GW_IN_MAC) / IP(src=HOST, dst=SERVER) / TCP(
                sport=40001, dport=25, flags="S", chksum=0x1234),
            Ether(bytes(Ether(src=HOST_MAC, dst=GW_IN_MAC, type=0x0800)) + b"\x45\x00\x00"),
            Ether(src=HOST_MAC, dst=GW_IN_MAC) / IP(src=HOST, dst=SERVER, chksum=0x4321) / TCP(
                sport=40002, dport=25, flags="S"),
            Ether(src=HOST_MAC, dst="02:00:00:00:09:09") / IP(src=HOST, dst=SERVER) / TCP(
                sport=40003, dport=25, flags="S"),
            Ether(src=HOST_MAC, dst=GW_IN_MAC) / IP(src=HOST, dst=SERVER) / TCP(
                sport=40004, dport=25, flags="A"),
            Ether(src=HOST_MAC, dst=GW_IN_MAC) / IP(src=HOST, dst=SERVER, ttl=1) / TCP(
                sport=40005, dport=25, flags="S"),
        ]
        outside = [
            Ether(src=ROUTER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(
                op=1, hwsrc=ROUTER_MAC, psrc="10.98.2.2", pdst=POOL),
            Ether(src=ROUTER_MAC, dst=GW_OUT_MAC) / IP(src=SERVER, dst=POOL, ttl=60) / TCP(
                sport=25, dport=NAT_PORT, flags="SA", seq=5000, ack=1001),
            # A reply to a port nobody holds.
            Ether(src=ROUTER_MAC, dst=GW_OUT_MAC) / IP(src=SERVER, dst=POOL, ttl=60) / TCP(
                sport=25, dport=NAT_PORT + 7, flags="SA", seq=1, ack=1),
        ]
        wrpcap(f"{d}/in_inside.pcap", inside)
        wrpcap(f"{d}/in_outside.pcap", outside)
        cfg = CONFIG.format(d=d, prefix=f"pcaptest{os.getpid()}", in_mac=GW_IN_MAC,
                            out_mac=GW_OUT_MAC, router_mac=ROUTER_MAC, pool=POOL)
        with open(f"{d}/gw.yaml", "w") as f:
            f.write(cfg)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        proc = subprocess.Popen([binary, "run", "--config", f"{d}/gw.yaml"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env)
        try:
            # The captures are consumed in the first polls; give the gateway time to start.
            deadline = time.time() + 30
            started = False
            while time.time() < deadline and proc.poll() is None:
                if os.path.exists(f"{d}/out_outside.pcap"):
                    started = True
                time.sleep(0.5)
                if started:
                    time.sleep(2)
                    break
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        print(out)
        check(proc.returncode == 0, f"gateway exits 0 on SIGTERM (got {proc.returncode})")

        def counter(name):
            m = re.search(rf"^\s+{re.escape(name)}\s+(\d+)", out, re.M)
            return int(m.group(1)) if m else 0

        out_in = rdpcap(f"{d}/out_inside.pcap")
        out_out = rdpcap(f"{d}/out_outside.pcap")

        arp_in = [p for p in out_in if ARP in p and p[ARP].op == 2]
        check(len(arp_in) == 1 and arp_in[0][ARP].psrc == "10.98.1.1" and
              arp_in[0][ARP].hwsrc == GW_IN_MAC and arp_in[0][Ether].dst == HOST_MAC,
              "ARP request for the gateway's inside address answered with its MAC")
        arp_out = [p for p in out_out if ARP in p and p[ARP].op == 2]
        check(len(arp_out) == 1 and arp_out[0][ARP].psrc == POOL and
              arp_out[0][ARP].hwsrc == GW_OUT_MAC,
              "ARP request for the pool address answered on the outside port")

        tcp_out = [p for p in out_out if TCP in p]
        check(len(tcp_out) == 2, f"two SMTP segments leave on the outside port (got {len(tcp_out)})")
        if tcp_out:
            s = tcp_out[0]
            check(s[IP].src == POOL and s[TCP].sport == NAT_PORT and s[IP].dst == SERVER and
                  s[TCP].dport == 25, f"SYN translated to {POOL}:{NAT_PORT} "
                  f"(got {s[IP].src}:{s[TCP].sport})")
            check(s[IP].ttl == 63, "TTL decremented")
            check(s[Ether].src == GW_OUT_MAC and s[Ether].dst == ROUTER_MAC,
                  "L2 rewritten for the next hop (static neighbour)")
            check(all(checksums_valid(p) for p in tcp_out), "IP and TCP checksums valid after SNAT")
            check(len(tcp_out) == 2 and bytes(tcp_out[1][TCP].payload) == b"EHLO client.example\r\n",
                  "payload of the data segment unchanged")

        tcp_in = [p for p in out_in if TCP in p]
        check(len(tcp_in) == 1, f"one reply reaches the inside (got {len(tcp_in)})")
        if tcp_in:
            r = tcp_in[0]
            check(r[IP].dst == HOST and r[TCP].dport == 40000 and r[IP].src == SERVER and
                  r[TCP].sport == 25, "SYN-ACK translated back to the inside host")
            check(r[Ether].dst == HOST_MAC and r[Ether].src == GW_IN_MAC,
                  "inside host's MAC learned from its ARP request")
            check(checksums_valid(r), "checksums valid after reverse translation")

        udp_out = [p for p in out_out if UDP in p]
        check(len(udp_out) == 1 and udp_out[0][IP].src == HOST and checksums_valid(udp_out[0]),
              "non-SMTP UDP routed without translation (other_traffic: forward)")

        for name, want in [("parse.tcp_bad_checksum", 1), ("parse.ipv4_truncated", 1),
                           ("parse.ipv4_bad_checksum", 1), ("not_for_us", 1),
                           ("nat_no_binding_out", 1), ("ttl_exceeded", 1),
                           ("nat_no_binding_in", 1), ("nat_created", 1),
                           ("nat_translated_out", 2), ("nat_translated_in", 1),
                           ("arp_request_answered", 2)]:
            check(counter(name) == want, f"counter {name} == {want} (got {counter(name)})")

    print(f"{14 + 11 - len(failures)} checks passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
