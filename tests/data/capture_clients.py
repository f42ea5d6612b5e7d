#!/usr/bin/python3
"""SMTP clients for tests/data/make_captures.sh (run inside the client namespace).

  capture_clients.py SCENARIO HOST PORT

Every message is deterministic (fixed dates, ids and pseudo-random bytes), so the expectations in
tests/unit/analyze/expected.json can be written from this file: read it side by side with them.
"""
import random
import smtplib
import socket
import sys
from email.message import EmailMessage
from email.utils import format_datetime
import datetime

DATE = format_datetime(datetime.datetime(2026, 11, 25, 6, 0, 0, tzinfo=datetime.timezone.utc))


def blob(n, seed):
    return random.Random(seed).randbytes(n)


def text_message(subject, sender, to, body, msgid, extra=None):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = DATE
    m["Message-ID"] = msgid
    for k, v in (extra or {}).items():
        m[k] = v
    m.set_content(body)
    return m


def scenario_multi(host, port):
    """One connection, AUTH PLAIN, three transactions: a multipart message (quoted-printable
    text, base64 attachment), an abandoned one (RSET), one with a rejected recipient and
    dot-stuffed lines."""
    s = smtplib.SMTP(host, port, local_hostname="client.capture.test")
    s.ehlo()
    s.login("alice@example.org", "secret")  # smtplib picks PLAIN (aiosmtpd offers LOGIN, PLAIN)
    m = EmailMessage()
    m["From"] = "Alice <alice@example.org>"
    m["To"] = "Bob <bob@example.net>"
    m["Subject"] = "Quarterly report"
    m["Date"] = DATE
    m["Message-ID"] = "<multi-1@capture.test>"
    m["List-Unsubscribe"] = "<mailto:unsub@example.org>"
    m["Precedence"] = "bulk"
    m.set_content("Caf\u00e9 cr\u00e8me: the report is attached.\n" + "long line " * 20 + "\n",
                  cte="quoted-printable")
    m.add_attachment(blob(3000, 1), maintype="application", subtype="pdf",
                     filename="report.pdf")
    s.send_message(m, from_addr="alice@example.org", to_addrs=["bob@example.net"])
    # An abandoned transaction.
    s.mail("carol@example.org")
    s.rcpt("dave@example.net")
    s.rset()
    # One recipient rejected (aiosmtpd answers 550 to local part "reject"), dot-stuffed lines.
    body = "Line one\n.starts with a dot\n..two dots\n.\nlast line\n"
    m3 = text_message("Dots and a reject", "alice@example.org", "ok@example.net, reject@example.net",
                      body, "<multi-3@capture.test>")
    refused = s.send_message(m3, from_addr="alice@example.org",
                             to_addrs=["ok@example.net", "reject@example.net"])
    assert "reject@example.net" in refused, refused
    s.quit()


def scenario_large(host, port):
    """One message with a 1,500,000-byte base64 attachment (about 2 MB on the wire)."""
    s = smtplib.SMTP(host, port, local_hostname="client.capture.test")
    m = text_message("Large attachment", "big@example.org", "archive@example.net",
                     "See the attached archive.\n", "<large-1@capture.test>")
    m.add_attachment(blob(1500000, 2), maintype="application", subtype="octet-stream",
                     filename="archive.bin")
    s.send_message(m)
    s.quit()


def scenario_degraded(host, port):
    """Three 100 KB messages on one connection over the degraded link."""
    s = smtplib.SMTP(host, port, local_hostname="degraded.capture.test")
    for i in range(3):
        body = "".join("degraded line %06d %d\n" % (n, i) for n in range(4500))
        m = text_message("Degraded %d" % i, "lossy@example.org", "sink@example.net", body,
                         "<degraded-%d@capture.test>" % i)
        s.send_message(m)
    s.quit()


def scenario_bdat(host, port):
    """BDAT (CHUNKING) by hand: smtplib has no BDAT. Two messages, pipelined envelope."""
    sock = socket.create_connection((host, port))
    f = sock.makefile("rb")

    def read_reply():
        lines = []
        while True:
            line = f.readline().decode()
            lines.append(line)
            if line[3:4] != "-":
                return lines

    def send(data):
        sock.sendall(data if isinstance(data, bytes) else data.encode())

    read_reply()
    send("EHLO bdat.capture.test\r\n")
    ehlo = "".join(read_reply())
    assert "CHUNKING" in ehlo, ehlo
    msg = (b"From: chunky@example.org\r\nTo: dest@example.net\r\nSubject: Chunked\r\n"
           b"Message-ID: <bdat-1@capture.test>\r\nDate: " + DATE.encode() + b"\r\n\r\n"
           b"First chunk of the body.\r\n.a line starting with a dot is not stuffed in BDAT\r\n"
           b"Second chunk.\r\n")
    first, second = msg[:120], msg[120:]
    send("MAIL FROM:<chunky@example.org>\r\nRCPT TO:<dest@example.net>\r\n")
    read_reply()
    read_reply()
    send(b"BDAT %d\r\n" % len(first) + first)
    read_reply()
    send(b"BDAT %d LAST\r\n" % len(second) + second)
    read_reply()
    msg2 = b"Subject: Second\r\n\r\nsmall\r\n"
    send(b"MAIL FROM:<chunky@example.org>\r\nRCPT TO:<other@example.net>\r\nBDAT %d LAST\r\n"
         % len(msg2) + msg2)
    read_reply()
    read_reply()
    read_reply()
    send("QUIT\r\n")
    read_reply()
    sock.close()


def scenario_pipelined_rset(host, port):
    """A raw client that runs ahead of the replies (smtplib waits for each): after the first
    message's final "." it sends, in the same segment and before any reply, MAIL, RCPT, RSET,
    MAIL, RCPT, DATA. aiosmtpd reads commands line by line from one buffer, so it answers them
    in order: 250 queued, 250, 250, 250 (RSET), 250, 250, 354."""
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = sock.makefile("rb")

    def read_reply():
        lines = []
        while True:
            line = f.readline().decode()
            lines.append(line)
            if line[3:4] != "-":
                return int(lines[0][:3]), "".join(lines)

    def send(data):
        sock.sendall(data if isinstance(data, bytes) else data.encode())

    def message(subject, to, msgid, text):
        return ("From: runner@example.org\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\n"
                "Date: %s\r\n\r\n%s" % (to, subject, msgid, DATE, text)).encode()

    read_reply()
    send("EHLO rset.capture.test\r\n")
    code, ehlo = read_reply()
    assert "PIPELINING" in ehlo, ehlo
    send("MAIL FROM:<runner@example.org>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n")
    codes = [read_reply()[0] for _ in range(3)]
    assert codes == [250, 250, 354], codes
    first = message("Pipelined first", "bob@example.net", "<rset-1@capture.test>",
                    "The end of this message is followed by a whole reset transaction.\r\n")
    # One sendall, well under one segment: the "." and the six commands leave together.
    send(first + b".\r\n"
         b"MAIL FROM:<runner@example.org>\r\nRCPT TO:<reset@example.net>\r\nRSET\r\n"
         b"MAIL FROM:<runner@example.org>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n")
    codes = [read_reply()[0] for _ in range(7)]
    assert codes == [250, 250, 250, 250, 250, 250, 354], codes
    second = message("Pipelined second", "carol@example.net", "<rset-2@capture.test>",
                     "Sent after the reset one.\r\n")
    send(second + b".\r\n")
    code, text = read_reply()
    assert code == 250, text
    send("QUIT\r\n")
    read_reply()
    sock.close()
    print("pipelined_rset: content sizes %d and %d" % (len(first), len(second)))


def scenario_ipv6(host, port):
    """One plain message over IPv6 (swaks here lacks IO::Socket::INET6)."""
    s = smtplib.SMTP(host, port, local_hostname="v6.capture.test")
    m = text_message("Over IPv6", "six@example.org", "bob@example.net", "Hello over IPv6.\n",
                     "<v6-1@capture.test>")
    s.send_message(m)
    s.quit()


GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def scenario_verdicts(host, port):
    """Three connections for `smtpgw analyze --rules`: a clean business message, the GTUBE test
    message (always spam), and a credential-phishing lure in quoted-printable HTML whose
    From display name claims a brand its address does not belong to (spam by the shipped
    phishing rules, no GTUBE)."""
    s = smtplib.SMTP(host, port, local_hostname="office.capture.test")
    s.send_message(text_message(
        "Minutes of Tuesday's planning meeting", "anna@example.org", "team@example.net",
        "Hi all,\n\nthe minutes of Tuesday's meeting are below. We agreed to move the release\n"
        "to the 14th and to review the budget for the next quarter on Friday.\n\n"
        "Action items:\n- Bob: update the delivery schedule\n- Carol: send the contract draft\n\n"
        "Thanks,\nAnna\n", "<minutes-1@capture.test>"))
    s.quit()
    s = smtplib.SMTP(host, port, local_hostname="office.capture.test")
    s.send_message(text_message(
        "Test message", "anna@example.org", "bob@example.net",
        "This is the GTUBE, the Generic Test for Unsolicited Bulk Email:\n\n" + GTUBE + "\n",
        "<gtube-1@capture.test>"))
    s.quit()
    m = text_message("Your account has been suspended",
                     "PayPal Security <security-alert@account-check.example.top>",
                     "bob@example.net", "Your account has been suspended.",
                     "<phish-1@account-check.example.top>")
    m.add_alternative(
        "<html><body><p>Dear Customer,</p><p>We detected unusual activity and your account has "
        "been suspended. To restore access you must verify your account within 24 hours, or it "
        "will be permanently closed.</p><p><a href=\"http://192.0.2.45/paypal/login.php\">"
        "Click here to verify your account</a></p><p>PayPal Security Team</p></body></html>",
        subtype="html", cte="quoted-printable")
    s = smtplib.SMTP(host, port, local_hostname="mail.account-check.example.top")
    s.send_message(m, from_addr="bounce@account-check.example.top")
    s.quit()


SCENARIOS = {
    "verdicts": scenario_verdicts,
    "ipv6": scenario_ipv6,
    "multi": scenario_multi,
    "large": scenario_large,
    "degraded": scenario_degraded,
    "bdat": scenario_bdat,
    "pipelined_rset": scenario_pipelined_rset,
}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](sys.argv[2], int(sys.argv[3]))
