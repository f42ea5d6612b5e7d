#!/usr/bin/python3
"""A real SMTP server for the end-to-end test and the demo: aiosmtpd (Debian's python3-aiosmtpd).

Accepts every message and appends one JSON object per message to --record:
  {"peer": "10.99.2.10", "peer_port": 40123, "helo": "...", "mail_from": "...",
   "rcpt_tos": [...], "size": 1234, "sha256": "...", "subject": "..."}
"sha256" and "size" cover the message exactly as the client meant it: the DATA lines after
dot-unstuffing, CRLF line ends included, the terminating "." line excluded.
"peer" is the client address the server saw, which is what the tests check to see the SNAT.
With --record-content the record also has "content": that message as text (UTF-8, undecodable
bytes replaced), for tests that check what was written, not only that it arrived.

With --tls-cert and --tls-key the server offers STARTTLS (as most mail servers do), so the
tests see what the gateway makes of it. With --auth it offers AUTH PLAIN and LOGIN without TLS
and accepts any user and password (the tests judge the gateway's answer to AUTH, not the
server's); the record then has "auth_user".

When the socket is bound, writes its own pid to --ready (so a test can wait for readiness
without sleeping); exits 0 on SIGINT/SIGTERM.

Run it with /usr/bin/python3: the python3 on PATH may be a build without Debian's packages.
"""
import argparse
import asyncio
import hashlib
import json
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult


class RecordingHandler:
    """Records each message; never rejects (the tests judge, not the server)."""

    def __init__(self, record_path, record_content=False):
        self._record_path = record_path
        self._record_content = record_content

    async def handle_DATA(self, server, session, envelope):
        body = envelope.original_content or b""
        subject = ""
        for line in body.split(b"\r\n"):
            if not line:
                break  # end of the header section
            if line.lower().startswith(b"subject:"):
                subject = line[8:].strip().decode("utf-8", "replace")
        peer = session.peer if isinstance(session.peer, tuple) else (str(session.peer), 0)
        entry = {
            "peer": peer[0],
            "peer_port": peer[1],
            "helo": session.host_name,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "subject": subject,
        }
        if self._record_content:
            entry["content"] = body.decode("utf-8", "replace")
        if session.authenticated:
            login = getattr(session.auth_data, "login", b"") or b""
            entry["auth_user"] = (login.decode("utf-8", "replace") if isinstance(login, bytes)
                                  else str(login))
        # One write of one line, flushed, so a reader polling the file never sees half a record.
        with open(self._record_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
            f.flush()
        print(f"smtp_sink: {entry['size']} bytes from {entry['peer']}:{entry['peer_port']} "
              f"<{entry['mail_from']}> -> {','.join(entry['rcpt_tos'])} sha256={entry['sha256'][:16]}",
              flush=True)
        return "250 2.0.0 OK: queued"


async def serve(args):
    handler = RecordingHandler(args.record, args.record_content)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    loop = asyncio.get_running_loop()
    auth = {}
    if args.auth:
        # Any user: the record keeps its name (auth_data.login), never the password.
        auth = {"auth_require_tls": False,
                "authenticator": lambda server, session, envelope, mechanism, data:
                    AuthResult(success=True, auth_data=data)}
    server = await loop.create_server(
        lambda: SMTP(handler, hostname=args.hostname, data_size_limit=args.max_size,
                     decode_data=False, tls_context=tls, **auth),
        host=args.host, port=args.port, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"smtp_sink: listening on {args.host}:{args.port}, recording to {args.record}", flush=True)
    if args.ready:
        tmp = args.ready + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\n")
        os.rename(tmp, args.ready)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=25)
    p.add_argument("--record", required=True, help="JSON-lines file, appended to")
    p.add_argument("--ready", help="file created once the socket listens")
    p.add_argument("--hostname", default="sink.outside.test")
    p.add_argument("--max-size", type=int, default=64 * 1024 * 1024)
    p.add_argument("--tls-cert", help="PEM certificate: offer STARTTLS")
    p.add_argument("--tls-key", help="its PEM private key")
    p.add_argument("--auth", action="store_true", help="offer AUTH PLAIN/LOGIN, accept anyone")
    p.add_argument("--record-content", action="store_true",
                   help="add each message's text to its record (\"content\")")
    args = p.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    try:
        asyncio.run(serve(args))
    except OSError as e:
        print(f"smtp_sink: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
