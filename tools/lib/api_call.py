#!/usr/bin/python3
"""One request to the gateway's operator API, for the tests: prints the HTTP status on the first
line and the body after it. Exit 0 whatever the status (the tests judge it); 2 when the server
cannot be reached.

usage: api_call.py METHOD URL [--token T] [--body TEXT | --body-size N] [--until TEXT]

--until reads a stream (the event stream) line by line and stops after the first line that
holds TEXT (the body printed is what was read until then); 10 s at most.
"""
import argparse
import sys
import urllib.error
import urllib.request


def main():
    p = argparse.ArgumentParser()
    p.add_argument("method")
    p.add_argument("url")
    p.add_argument("--token")
    p.add_argument("--body")
    p.add_argument("--body-size", type=int, help="send N bytes of 'x' as the body")
    p.add_argument("--until", help="read a stream until a line holds this text")
    a = p.parse_args()
    data = None
    if a.body is not None:
        data = a.body.encode()
    elif a.body_size is not None:
        data = b"x" * a.body_size
    req = urllib.request.Request(a.url, data=data, method=a.method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if a.token is not None:
        req.add_header("Authorization", "Bearer " + a.token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            if a.until is None:
                status, body = r.status, r.read()
            else:
                status, body = r.status, b""
                for line in r:
                    body += line
                    if a.until.encode() in line:
                        break
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    except (urllib.error.URLError, ConnectionError) as e:
        print(f"api_call: {a.url}: {e}", file=sys.stderr)
        return 2
    print(status)
    sys.stdout.write(body.decode("utf-8", "replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
