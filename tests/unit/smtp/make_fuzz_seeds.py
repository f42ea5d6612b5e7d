#!/usr/bin/env python3
"""Writes the seed corpora of the smtp_session and address_key fuzz targets
(tests/fuzz/corpus/...). The smtp_session input format is described in
tests/fuzz/smtp_session_fuzz.cc: a flags byte, then chunks of (header byte: bit 7 = server,
bits 0-6 = length) + bytes."""
import base64
import os
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fuzz", "corpus")

GREET = b"220 mx.example ESMTP\r\n"
EHLO = (b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n"
        b"250-CHUNKING\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n")


def encode(flags, steps):
    out = bytearray([flags])
    for who, data in steps:
        for i in range(0, len(data), 127):
            part = data[i:i + 127]
            out.append((0x80 if who == "S" else 0) | len(part))
            out += part
    return bytes(out)


def session(flags, *steps):
    return encode(flags, list(steps))


plain = base64.b64encode(b"\0alice@example.org\0secret").decode().encode()
seeds = {
    "delivery": session(4, ("S", GREET), ("C", b"EHLO c\r\n"), ("S", EHLO),
                        ("C", b"MAIL FROM:<a@x.org> SIZE=10 BODY=8BITMIME\r\n"), ("S", b"250 ok\r\n"),
                        ("C", b"RCPT TO:<b@y.org>\r\n"), ("S", b"250 ok\r\n"), ("C", b"DATA\r\n"),
                        ("S", b"354 go\r\n"), ("C", b"Subject: x\r\n\r\n..dot\r\n.\r\n"),
                        ("S", b"250 queued\r\n"), ("C", b"QUIT\r\n"), ("S", b"221 bye\r\n")),
    "pipelining": session(5, ("S", GREET), ("C", b"EHLO c\r\n"), ("S", EHLO),
                          ("C", b"MAIL FROM:<>\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<n@y.org>\r\nDATA\r\n"),
                          ("S", b"250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n"),
                          ("C", b"body\r\n.\r\n"), ("S", b"250 ok\r\n")),
    "bdat": session(7, ("S", GREET), ("C", b"EHLO c\r\n"), ("S", EHLO),
                    ("C", b"MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nBDAT 5\r\nab\r\n.BDAT 3 LAST\r\nxyz"),
                    ("S", b"250 ok\r\n250 ok\r\n250 ok\r\n250 queued\r\n")),
    "auth_plain": session(1, ("S", GREET), ("C", b"EHLO c\r\n"), ("S", EHLO),
                          ("C", b"AUTH PLAIN " + plain + b"\r\n"), ("S", b"235 ok\r\n"),
                          ("C", b"MAIL FROM:<alice@example.org>\r\n"), ("S", b"250 ok\r\n")),
    "auth_login": session(0, ("S", GREET), ("C", b"AUTH LOGIN\r\n"), ("S", b"334 VXNlcm5hbWU6\r\n"),
                          ("C", b"Ym9i\r\n"), ("S", b"334 UGFzc3dvcmQ6\r\n"), ("C", b"cGFzcw==\r\n"),
                          ("S", b"235 ok\r\n")),
    "starttls": session(4, ("S", GREET), ("C", b"EHLO c\r\n"), ("S", EHLO), ("C", b"STARTTLS\r\n"),
                        ("S", b"220 go\r\n"), ("C", b"\x16\x03\x01\x00\x05hello")),
    "starttls_refused": session(0, ("S", GREET), ("C", b"STARTTLS\r\nMAIL FROM:<i@x.y>\r\n"),
                                ("S", b"454 no\r\n250 ok\r\n")),
    "rset_rejects": session(6, ("S", GREET), ("C", b"HELO c\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<z@y>\r\nRSET\r\n"),
                            ("S", b"250 mx\r\n550 no\r\n503 no\r\n250 ok\r\n"),
                            ("C", b"MAIL FROM:<a@x.org>\r\nRCPT TO:<1@y.z>\r\nRCPT TO:<2@y.z>\r\nRCPT TO:<3@y.z>\r\nDATA\r\n"),
                            ("S", b"250 ok\r\n250 ok\r\n250 ok\r\n452 too many\r\n554 no\r\n")),
    "malformed": session(4, ("S", b"garbage\r\n220-a\r\n221 b\r\n"), ("C", b"XYZ\r\nNO\0OP\nMAIL <x>\r\n\r\n"),
                         ("S", b"500 x\r\n250 ok\n501 x\r\n500 x\r\n250 extra\r\n")),
    "smuggling": session(4, ("S", GREET), ("C", b"MAIL FROM:<a@b.c>\r\nRCPT TO:<x@d.e>\r\nDATA\r\n"),
                         ("S", b"250 ok\r\n250 ok\r\n354 go\r\n"),
                         ("C", b"a\n.\r\nMAIL FROM:<s@x.y>\r\n.\nb\r\n.\rc\r\n.\r\n"), ("S", b"250 ok\r\n")),
    "ahead_of_354": session(1, ("S", GREET), ("C", b"MAIL FROM:<a@b.c>\r\nRCPT TO:<x@d.e>\r\nDATA\r\nRSET\r\n"),
                            ("S", b"250 ok\r\n250 ok\r\n554 no\r\n")),
    "long_lines": session(6, ("S", GREET), ("C", b"MAIL FROM:<" + b"a" * 300 + b"@b.c>\r\n"),
                          ("S", b"250 " + b"x" * 200 + b"\r\n")),
    "pipelined_rset": session(5, ("S", GREET), ("C", b"EHLO c\r\n"), ("S", EHLO),
                              ("C", b"MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nDATA\r\n"),
                              ("S", b"250 ok\r\n250 ok\r\n354 go\r\n"),
                              ("C", b"hi\r\n.\r\nMAIL FROM:<c@x.org>\r\nRCPT TO:<d@y.org>\r\nRSET\r\n"
                                    b"MAIL FROM:<e@x.org>\r\nRCPT TO:<f@y.org>\r\nDATA\r\n"),
                              ("S", b"250 queued\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n"
                                    b"354 go\r\n"),
                              ("C", b"x\r\n.\r\n"), ("S", b"250 queued\r\n")),
    "multiline": session(0, ("S", b"220-a\r\n220 b\r\n"), ("C", b"EHLO c\r\n"),
                         ("S", b"250-a\r\n251-PIPELINING\r\n250 AUTH=LOGIN PLAIN\r\n"),
                         ("C", b"NOOP\r\nVRFY x\r\nHELP\r\n"), ("S", b"250 ok\r\n252 x\r\n214-a\r\n214 b\r\n")),
}

addresses = {
    "simple": b"<user@Example.COM>",
    "null": b"<>",
    "route": b"<@a.example,@b.example:x@Y.example> SIZE=1",
    "quoted": b'<"john \\"q\\" doe"@x.org>',
    "quoted_atom": b'<"john.doe"@x.org>',
    "literal": b"<a@[IPv6:2001:DB8::1]>",
    "utf8": "<j\u00f6rg@b\u00fccher.example>".encode(),
    "postmaster": b"<Postmaster>",
    "bracketless": b"a@b.c BODY=8BITMIME",
    "trailing_dot": b"<a@b.c.>",
    "bad": b"<a..b@@c>",
    "long": b"<" + b"x" * 64 + b"@" + b"d" * 63 + b"." + b"e" * 63 + b".com>",
}


def main():
    for name, data in seeds.items():
        with open(os.path.join(root, "smtp_session", name), "wb") as f:
            f.write(data)
    for name, data in addresses.items():
        with open(os.path.join(root, "address_key", name), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
