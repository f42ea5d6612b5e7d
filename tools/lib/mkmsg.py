#!/usr/bin/python3
"""Writes a test e-mail of about --size bytes for swaks, and prints what the server must receive.

The file is the DATA section exactly as swaks reads it with `--data @FILE`: CRLF line ends and
no final line break (swaks ends the last line with CRLF itself, then sends "."). It contains a
text part and, for larger sizes, a base64 "attachment" of pseudo-random bytes, plus lines that
begin with "." so the SMTP dot-stuffing of the path (swaks stuffs, aiosmtpd unstuffs) is
exercised. It never contains "%" or "\\", which swaks would expand as tokens or escapes.

Prints one line: "<sha256> <size>" of the bytes the server is expected to record (the file
plus the CRLF swaks adds), which is what tools/lib/smtp_sink.py hashes.
"""
import argparse
import base64
import hashlib
import random
import sys


def build(size, subject, sender, rcpt, seed):
    rng = random.Random(seed)
    head = [
        f"From: <{sender}>",
        f"To: <{rcpt}>",
        f"Subject: {subject}",
        f"Message-ID: <{subject.replace(' ', '-')}@inside.test>",
        "Date: Wed, 25 Nov 2026 06:00:00 +0000",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="sgw-boundary"',
        "",
        "--sgw-boundary",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Hello from the inside network.",
        ".A line that starts with a dot (dot-stuffed on the wire).",
        "..Two dots.",
        "",
        "--sgw-boundary",
        "Content-Type: application/octet-stream",
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="payload.bin"',
        "",
    ]
    tail = ["", "--sgw-boundary--"]
    fixed = len("\r\n".join(head + tail)) + 4
    # base64 lines of 76 characters (57 raw bytes) + CRLF, until the target size is reached.
    lines = []
    budget = max(0, size - fixed)
    while budget > 0:
        chunk = bytes(rng.getrandbits(8) for _ in range(57))
        line = base64.b64encode(chunk).decode("ascii")
        lines.append(line)
        budget -= len(line) + 2
    return "\r\n".join(head + lines + tail).encode("ascii")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, required=True, help="approximate size in bytes")
    p.add_argument("--subject", required=True, help="unique per message: the tests match on it")
    p.add_argument("--from", dest="sender", default="alice@inside.test")
    p.add_argument("--to", dest="rcpt", default="bob@outside.test")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    data = build(a.size, a.subject, a.sender, a.rcpt, a.seed)
    with open(a.out, "wb") as f:
        f.write(data)
    expected = data + b"\r\n"
    print(hashlib.sha256(expected).hexdigest(), len(expected))
    return 0


if __name__ == "__main__":
    sys.exit(main())
