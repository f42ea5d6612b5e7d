#!/usr/bin/python3
"""Writes an ARF complaint report (RFC 5965) to stdout, shaped as mailbox providers send them,
for the complaint tests and the demo.

  mkarf.py [--type abuse] [--mail-from A] [--source-ip IP] [--from A] [--subject S]
           [--truncate]

--mail-from sets Original-Mail-From; --source-ip Source-IP; --from the original message's From
(its third part, text/rfc822-headers). --truncate leaves out the closing delimiter (a report
the gateway must refuse).
"""
import argparse
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--type", default="abuse")
    p.add_argument("--mail-from")
    p.add_argument("--source-ip")
    p.add_argument("--from", dest="orig_from", default="someone@elsewhere.test")
    p.add_argument("--subject", default="Earn money")
    p.add_argument("--truncate", action="store_true")
    a = p.parse_args()
    b = "arf_boundary_7f3a"
    fields = ["Feedback-Type: " + a.type, "User-Agent: smtpgw-tests/1.0", "Version: 1"]
    if a.mail_from:
        fields.append("Original-Mail-From: <%s>" % a.mail_from)
    if a.source_ip:
        fields.append("Source-IP: " + a.source_ip)
    fields.append("Arrival-Date: Sat, 05 Dec 2026 12:00:00 +0000")
    out = [
        "From: <feedback@provider.test>",
        "To: <abuse@gateway.test>",
        "Subject: Complaint about message from " + (a.mail_from or a.orig_from),
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=feedback-report; boundary="%s"' % b,
        "",
        "--" + b,
        "Content-Type: text/plain",
        "",
        "A recipient marked this message as spam.",
        "",
        "--" + b,
        "Content-Type: message/feedback-report",
        "",
    ] + fields + [
        "",
        "--" + b,
        "Content-Type: text/rfc822-headers",
        "",
        "From: <%s>" % a.orig_from,
        "To: <victim@provider.test>",
        "Subject: " + a.subject,
        "Message-ID: <complaint-test@inside.test>",
        "",
    ]
    if not a.truncate:
        out.append("--" + b + "--")
    sys.stdout.write("\r\n".join(out) + "\r\n")


if __name__ == "__main__":
    main()
