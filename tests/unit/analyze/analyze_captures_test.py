#!/usr/bin/python3
"""Runs `smtpgw analyze` over every capture of tests/data/ and checks the records field by field
against tests/unit/analyze/expected.json (written by hand from what the capture script sent).
Then checks the defined outcomes for malformed input: a truncated capture, a file that is not a
capture, a corrupted frame: each reported with the file name (and packet number), the rest still
processed. Rewritten copies of a capture (other byte order, nanosecond stamps, version 2.3, pcapng,
a record cut in its header, a small snaplen) give the records of the original or the defined
errors: analyze walks plain classic pcap in a memory mapping and hands the rest to libpcap, and
the two readers must agree. With --rules (the shipped rule set): every record carries the verdict expected for it
(GTUBE and a phishing lure are spam, everything else ham); a rule set that does not compile
stops analyze with the file and line; --config takes the SMTP ports from a gateway config.
usage: analyze_captures_test.py SMTPGW DATA_DIR EXPECTED_JSON RULES_DIR CONFIG_EXAMPLE
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

failures = []
passed = 0


def check(cond, what):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(what)
        print("FAIL:", what)


VERDICT_KEYS = ("verdict", "rules_include", "rules_exclude", "rules_exactly")


def run(smtpgw, *files):
    p = subprocess.run([smtpgw, "analyze", *files], capture_output=True, text=True, timeout=120)
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return p.returncode, lines, p.stderr


def check_message(name, i, got, want):
    where = "%s message %d" % (name, i)
    for key, value in want.items():
        if key == "client_ip":
            check(got["client"]["ip"] == value, "%s: client ip %r != %r" % (where, got["client"]["ip"], value))
        elif key == "rcpt_accepted":
            have = [r["address"] for r in got["rcpt_accepted"]]
            check(have == value, "%s: rcpt_accepted %r != %r" % (where, have, value))
            check(all(200 <= r["code"] < 300 for r in got["rcpt_accepted"]), where + ": accepted code")
        elif key == "rcpt_rejected":
            have = [{k: r[k] for k in ("address", "code", "enhanced")} for r in got["rcpt_rejected"]]
            check(have == value, "%s: rcpt_rejected %r != %r" % (where, have, value))
        elif key == "headers":
            for h, v in value.items():
                check(got["headers"].get(h) == v,
                      "%s: header %s %r != %r" % (where, h, got["headers"].get(h), v))
        elif key == "final_code":
            code = got["final_reply"]["code"] if got["final_reply"] else None
            check(code == value, "%s: final reply code %r != %r" % (where, code, value))
        elif key in VERDICT_KEYS:
            check("verdict" not in got, "%s: a verdict without --rules" % where)
        elif key == "size_at_least":
            check(got["size"] >= value, "%s: size %d < %d" % (where, got["size"], value))
        else:
            check(got.get(key) == value, "%s: %s %r != %r" % (where, key, got.get(key), value))


def check_captures(smtpgw, data, expected):
    for name, want in expected.items():
        if name.startswith("_"):
            continue
        rc, lines, err = run(smtpgw, os.path.join(data, name))
        check(rc == 0, "%s: exit status %d (stderr: %s)" % (name, rc, err.strip()))
        check(err == "", "%s: unexpected stderr %r" % (name, err))
        msgs = [l for l in lines if l.get("type") == "message"]
        summary = lines[-1] if lines else {}
        check(summary.get("type") == "summary", name + ": last object is the summary")
        check(len(msgs) == len(want["messages"]),
              "%s: %d messages, expected %d" % (name, len(msgs), len(want["messages"])))
        for i, (got, w) in enumerate(zip(msgs, want["messages"])):
            index = w.get("index", i)  # the message's number in its own session
            check(got["index"] == index, "%s message %d: index %r" % (name, i, got["index"]))
            check_message(name, i, got, {k: v for k, v in w.items() if k != "index"})
        for key, value in want["summary"].items():
            check(summary.get(key) == value,
                  "%s: summary %s %r != %r" % (name, key, summary.get(key), value))
        for key, value in want.get("tcp_at_least", {}).items():
            have = summary.get("tcp", {}).get(key, 0)
            check(have >= value, "%s: tcp counter %s %d < %d" % (name, key, have, value))


def check_verdicts(smtpgw, data, expected, rules_dir):
    # One run over every capture: the rule set is compiled once (the costly part, several
    # seconds under ASan), and each record names the file it came from.
    names = [name for name in expected if not name.startswith("_")]
    rc, lines, err = run(smtpgw, "--rules", rules_dir, *[os.path.join(data, n) for n in names])
    check(rc == 0, "--rules: exit status %d (stderr: %s)" % (rc, err.strip()))
    summary = lines[-1] if lines else {}
    check(summary.get("files") == len(names), "--rules: %r files read" % summary.get("files"))
    for name in names:
        want = expected[name]
        path = os.path.join(data, name)
        msgs = [l for l in lines if l.get("type") == "message" and l.get("file") == path]
        check(len(msgs) == len(want["messages"]), "%s --rules: %d messages" % (name, len(msgs)))
        for i, (got, w) in enumerate(zip(msgs, want["messages"])):
            where = "%s message %d --rules" % (name, i)
            default = None if w.get("outcome", got["outcome"]) == "aborted" else "ham"
            verdict = w.get("verdict", default)
            check(got.get("verdict", "missing") == verdict,
                  "%s: verdict %r != %r (score %r, rules %r)" % (
                      where, got.get("verdict", "missing"), verdict, got.get("score"),
                      got.get("rules")))
            if verdict is None:
                check("score" not in got and "rules" not in got, where + ": score without verdict")
                continue
            rules = got.get("rules", [])
            spam = got.get("score", 0) >= got.get("required_score", 5.0)
            check(spam == (verdict == "spam"), "%s: score %r vs required %r" % (
                where, got.get("score"), got.get("required_score")))
            for r in w.get("rules_include", []):
                check(r in rules, "%s: rule %s missing from %r" % (where, r, rules))
            for r in w.get("rules_exclude", []):
                check(r not in rules, "%s: rule %s hit: %r" % (where, r, rules))
            if "rules_exactly" in w:
                check(rules == w["rules_exactly"], "%s: rules %r != %r" % (where, rules, w["rules_exactly"]))


def check_bad_rules_and_config(smtpgw, data, config_example):
    capture = os.path.join(data, "verdicts.pcap")
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "10_bad.cf"), "w") as f:
            f.write("body GOOD_RULE /hello/\nscore GOOD_RULE 1\nbody BAD_RULE /unclosed(/\n")
        rc, lines, err = run(smtpgw, "--rules", tmp, capture)
        check(rc == 2, "bad rules: exit status %d, expected 2" % rc)
        check("10_bad.cf:3: rule BAD_RULE:" in err, "bad rules: error names file, line, rule: %r" % err)
        check(lines == [], "bad rules: nothing analysed: %r" % lines[:1])
        # Lenient: the bad rule is listed as skipped and the capture is analysed with the rest.
        rc, lines, err = run(smtpgw, "--rules", tmp, "--lenient", capture)
        check(rc == 0, "lenient rules: exit status %d" % rc)
        check("skipped: " in err and "BAD_RULE" in err, "lenient rules: skip listed: %r" % err)
        msgs = [l for l in lines if l.get("type") == "message"]
        check(len(msgs) == 3 and all(m.get("verdict") == "ham" for m in msgs),
              "lenient rules: 3 ham records: %r" % [m.get("verdict") for m in msgs])
        # --config: the example's smtp.ports (25 and 587) select the flows; a bad config stops.
        rc, lines, err = run(smtpgw, "--config", config_example, capture,
                             os.path.join(data, "bdat.pcap"))
        check(rc == 0, "config: exit status %d (%s)" % (rc, err.strip()))
        check(lines and lines[-1]["messages"] == 3,
              "config: only port-25 flows analysed (bdat.pcap is on 2525): %r" % lines[-1:])
        bad_cfg = os.path.join(tmp, "bad.yaml")
        with open(bad_cfg, "w") as f:
            f.write("ports: 7\n")
        rc, lines, err = run(smtpgw, "--config", bad_cfg, capture)
        check(rc == 2, "bad config: exit status %d, expected 2" % rc)
        check("bad.yaml:1:" in err, "bad config: error names file and line: %r" % err)


def pcap_records(blob):
    """Yields (offset of the record header, caplen) for each record of a classic pcap file."""
    off = 24
    while off + 16 <= len(blob):
        caplen = struct.unpack_from("<I", blob, off + 8)[0]
        yield off, caplen
        off += 16 + caplen


def rewrite_pcap(blob, endian="<", magic=0xa1b2c3d4, minor=4, snaplen=262144):
    """The classic pcap `blob` (little-endian, as tests/data holds them) written with another
    byte order, magic, minor version or snaplen (records unchanged)."""
    linktype = struct.unpack_from("<I", blob, 20)[0]
    out = [struct.pack(endian + "IHHiIII", magic, 2, minor, 0, 0, snaplen, linktype)]
    for off, caplen in pcap_records(blob):
        ts, us, cl, ln = struct.unpack_from("<IIII", blob, off)
        out.append(struct.pack(endian + "IIII", ts, us, cl, ln))
        out.append(blob[off + 16:off + 16 + caplen])
    return b"".join(out)


def to_pcapng(blob):
    """The classic pcap `blob` as pcapng (one section, one interface, enhanced packet blocks)."""
    def block(kind, body):
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    linktype = struct.unpack_from("<I", blob, 20)[0]
    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
           block(1, struct.pack("<HHI", linktype, 0, 262144))]
    for off, caplen in pcap_records(blob):
        ts, us, cl, ln = struct.unpack_from("<IIII", blob, off)
        t = ts * 1000000 + us
        out.append(block(6, struct.pack("<IIIII", 0, t >> 32, t & 0xffffffff, cl, ln) +
                         blob[off + 16:off + 16 + caplen]))
    return b"".join(out)


def without_file(lines):
    """Records and summary without what names the file or varies from run to run."""
    return [{k: v for k, v in l.items() if k not in ("file", "seconds", "mb_per_s")}
            for l in lines]


def check_readers_agree(smtpgw, data, tmp):
    orig_path = os.path.join(data, "multi.pcap")
    orig = open(orig_path, "rb").read()
    rc, want, err = run(smtpgw, orig_path)
    for name, blob in (("big_endian.pcap", rewrite_pcap(orig, endian=">")),
                       ("nanosecond.pcap", rewrite_pcap(orig, magic=0xa1b23c4d)),
                       ("version23.pcap", rewrite_pcap(orig, minor=3)),
                       ("pcapng.pcapng", to_pcapng(orig))):
        path = os.path.join(tmp, name)
        open(path, "wb").write(blob)
        rc, lines, err = run(smtpgw, path)
        check(rc == 0 and err == "", "%s: exit status %d, stderr %r" % (name, rc, err))
        check(without_file(lines) == without_file(want), "%s: same records as multi.pcap" % name)
    # Cut inside a record header: libpcap's message, with the packet's number.
    recs = list(pcap_records(orig))
    path = os.path.join(tmp, "cut_header.pcap")
    open(path, "wb").write(orig[:recs[20][0] + 7])
    rc, lines, err = run(smtpgw, path)
    check(rc == 1 and "cut_header.pcap: packet 21: truncated dump file; tried to read 16 header "
          "bytes, only got 7 (the rest of the file is skipped)" in err,
          "cut header: exit status %d, stderr %r" % (rc, err))
    # A snaplen below the largest frames: the mapped reader hands over at the first longer
    # record, libpcap cuts it and the following ones, and decode reports each cut payload.
    path = os.path.join(tmp, "snaplen.pcap")
    open(path, "wb").write(rewrite_pcap(orig, snaplen=200))
    first_long = next(n for n, (off, caplen) in enumerate(recs, start=1) if caplen > 200)
    rc, lines, err = run(smtpgw, path)
    check(rc == 0, "snaplen: exit status %d" % rc)
    check(err.startswith("%s: packet %d: capture cut the TCP payload (snaplen)\n" %
                         (path, first_long)), "snaplen: first cut frame reported: %r" % err[:200])
    check(lines[-1]["packets"] == len(recs), "snaplen: every record read: %r" % lines[-1])


def check_malformed(smtpgw, data):
    with tempfile.TemporaryDirectory() as tmp:
        good = os.path.join(data, "bdat.pcap")
        multi = open(os.path.join(data, "multi.pcap"), "rb").read()
        # 1. Truncated in the middle of a record: error names the file and the packet; the
        #    messages read before it are still reported (as aborted: the flow is cut), and the
        #    next file is processed.
        recs = list(pcap_records(multi))
        cut_at = recs[30][0] + 16 + 5  # 5 bytes into packet 31
        trunc = os.path.join(tmp, "truncated.pcap")
        open(trunc, "wb").write(multi[:cut_at])
        rc, lines, err = run(smtpgw, trunc, good)
        check(rc == 1, "truncated: exit status %d, expected 1" % rc)
        check("truncated.pcap: packet 31:" in err, "truncated: error names file and packet: %r" % err)
        msgs = [l for l in lines if l.get("type") == "message"]
        check(any(m["file"].endswith("bdat.pcap") for m in msgs), "truncated: next file processed")
        check(any(m["file"].endswith("truncated.pcap") for m in msgs),
              "truncated: records of what was read are printed")
        check(lines[-1]["file_errors"] == 1, "truncated: summary counts the file error")
        # 2. Not a capture at all.
        junk = os.path.join(tmp, "junk.pcap")
        open(junk, "wb").write(b"this is not a pcap file at all\n" * 4)
        rc, lines, err = run(smtpgw, junk, good)
        check(rc == 1, "junk: exit status %d, expected 1" % rc)
        check("junk.pcap: cannot read capture" in err, "junk: error names the file: %r" % err)
        check(lines[-1]["messages"] == 2, "junk: the good file's messages still reported")
        # 3. One corrupted frame (TCP data offset of 4 bytes): reported with its number and
        #    skipped. A pure ACK is corrupted, so the session's bytes are all still there.
        blob = bytearray(open(os.path.join(data, "pipelining.pcap"), "rb").read())
        target = None
        for n, (off, caplen) in enumerate(pcap_records(blob), start=1):
            frame = off + 16
            ihl = (blob[frame + 14] & 0x0f) * 4
            total = struct.unpack_from(">H", blob, frame + 16)[0]
            tcp = frame + 14 + ihl
            hlen = (blob[tcp + 12] >> 4) * 4
            if n > 3 and total - ihl - hlen == 0 and blob[tcp + 13] == 0x10:  # pure ACK
                blob[tcp + 12] = 0x10
                target = n
                break
        check(target is not None, "corrupt: found a pure ACK to corrupt")
        bad = os.path.join(tmp, "corrupt.pcap")
        open(bad, "wb").write(bytes(blob))
        rc, lines, err = run(smtpgw, bad)
        check(rc == 0, "corrupt: exit status %d, expected 0 (frame errors are counted)" % rc)
        check("corrupt.pcap: packet %d: TCP data offset out of range" % target in err,
              "corrupt: error names file and packet: %r" % err)
        check(lines[-1]["capture_errors"] == 1 and lines[-1]["messages"] == 1,
              "corrupt: one capture error, the message still reported: %r" % lines[-1])
        # 4. The mapped reader and libpcap agree.
        check_readers_agree(smtpgw, data, tmp)


def main():
    smtpgw, data, expected_path, rules_dir, config_example = sys.argv[1:6]
    expected = json.load(open(expected_path))
    check_captures(smtpgw, data, expected)
    check_verdicts(smtpgw, data, expected, rules_dir)
    check_bad_rules_and_config(smtpgw, data, config_example)
    check_malformed(smtpgw, data)
    print("%d passed, %d failed" % (passed, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
