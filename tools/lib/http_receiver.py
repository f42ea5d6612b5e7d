#!/usr/bin/python3
"""A real HTTP receiver for the alert webhook's end-to-end test: Python's http.server.

Records every POST as one JSON line in --record: {"path", "authorization", "content_type",
"body"} (body parsed as JSON when it is, else the text). Answers 500 to the first --fail-first
requests (so the test sees the gateway retry), 200 afterwards. Writes its pid to --ready once
it listens; exits 0 on SIGTERM/SIGINT.

Run it with /usr/bin/python3 (Debian's).
"""
import argparse
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--record", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--fail-first", type=int, default=0)
    a = p.parse_args()
    state = {"seen": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(n).decode("utf-8", "replace")
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            state["seen"] += 1
            status = 500 if state["seen"] <= a.fail_first else 200
            with open(a.record, "a") as f:
                f.write(json.dumps({"path": self.path, "status": status,
                                    "authorization": self.headers.get("Authorization", ""),
                                    "content_type": self.headers.get("Content-Type", ""),
                                    "body": body}) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, fmt, *args):
            sys.stderr.write("http_receiver: " + (fmt % args) + "\n")

    server = HTTPServer((a.host, a.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(a.ready, "w") as f:
        f.write(str(os.getpid()))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
