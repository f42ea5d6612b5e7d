#!/usr/bin/python3
"""SMTP servers for tests/data/make_captures.sh (run inside the server namespace).

  capture_server.py aiosmtpd HOST PORT [CERT KEY]
      Debian's aiosmtpd with a handler that advertises PIPELINING, accepts AUTH PLAIN/LOGIN for
      any user with password "secret", answers 550 5.1.1 to any recipient whose local part is
      "reject", and 250 to everything else. With CERT and KEY it offers STARTTLS.
  capture_server.py chunking HOST PORT
      A tiny server written here because aiosmtpd has no CHUNKING: EHLO (PIPELINING, CHUNKING),
      MAIL, RCPT, DATA, BDAT n [LAST], RSET, NOOP, QUIT. Enough for one client at a time.
Both print "ready" on stdout once listening and run until killed.
"""
import asyncio
import socket
import ssl
import sys


def run_aiosmtpd(host, port, cert=None, key=None):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    class Handler:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            session.host_name = hostname
            return responses[:-1] + ["250-PIPELINING"] + responses[-1:]

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.split("@")[0].lower() == "reject":
                return "550 5.1.1 <%s>: Recipient address rejected" % address
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"

        async def handle_DATA(self, server, session, envelope):
            return "250 2.0.0 Ok: queued as %d" % (len(envelope.content) % 100000)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"secret"
        return AuthResult(success=ok)

    tls = None
    if cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
    c = Controller(Handler(), hostname=host, port=port, server_hostname="mx.capture.test",
                   tls_context=tls, require_starttls=False, auth_require_tls=False,
                   authenticator=authenticator, data_size_limit=10 * 1024 * 1024)
    c.start()
    print("ready", flush=True)
    try:
        while True:
            asyncio.run(asyncio.sleep(3600))
    finally:
        c.stop()


def run_chunking(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(4)
    print("ready", flush=True)
    while True:
        conn, _ = ls.accept()
        with conn:
            serve_chunking(conn)


def serve_chunking(conn):
    f = conn.makefile("rb")
    out = conn.makefile("wb")

    def reply(text):
        out.write(text.encode() + b"\r\n")
        out.flush()

    reply("220 chunk.capture.test ESMTP ready")
    in_mail = False
    while True:
        line = f.readline()
        if not line:
            return
        cmd = line.decode("latin-1").rstrip("\r\n")
        verb = cmd.split(" ")[0].upper()
        if verb == "EHLO":
            reply("250-chunk.capture.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME")
        elif verb == "HELO":
            reply("250 chunk.capture.test")
        elif verb == "MAIL":
            in_mail = True
            reply("250 2.1.0 Ok")
        elif verb == "RCPT":
            reply("250 2.1.5 Ok" if in_mail else "503 5.5.1 need MAIL")
        elif verb == "BDAT":
            parts = cmd.split()
            size = int(parts[1])
            f.read(size)
            if len(parts) > 2 and parts[2].upper() == "LAST":
                reply("250 2.0.0 Ok: message received")
                in_mail = False
            else:
                reply("250 2.0.0 %d octets received" % size)
        elif verb == "DATA":
            reply("354 End data with <CR><LF>.<CR><LF>")
            while f.readline() not in (b".\r\n", b""):
                pass
            reply("250 2.0.0 Ok")
            in_mail = False
        elif verb == "RSET":
            in_mail = False
            reply("250 2.0.0 Ok")
        elif verb == "NOOP":
            reply("250 2.0.0 Ok")
        elif verb == "QUIT":
            reply("221 2.0.0 Bye")
            return
        else:
            reply("500 5.5.2 unknown command")


if __name__ == "__main__":
    kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if kind == "aiosmtpd":
        run_aiosmtpd(host, port, *(sys.argv[4:6] if len(sys.argv) >= 6 else ()))
    elif kind == "chunking":
        run_chunking(host, port)
    else:
        sys.exit("unknown server kind " + kind)
