#!/usr/bin/python3
"""The closing report of tools/check, read from meson's machine log (meson-logs/testlog.json) of
each build: every test that did not pass (FAIL, TIMEOUT, UNEXPECTEDPASS, ERROR, or a result this
script does not know) is a failure; a skipped test is listed with the reason it printed; the five
slowest tests of each build are printed with their time and their share of their timeout, so a
test creeping towards its limit is seen before it fails. The last line is
"N passed, N failed, N skipped"; exits 1 if any test failed or a log is missing.
usage: test_report.py LABEL=BUILD_DIR...
"""
import json
import os
import subprocess
import sys

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}


def last_line(text):
    lines = [l.strip() for l in (text or "").splitlines() if l.strip()]
    return lines[-1] if lines else "(no reason printed)"


def read_log(build):
    path = os.path.join(build, "meson-logs", "testlog.json")
    tests = []
    with open(path) as f:
        for line in f:
            if line.strip():
                tests.append(json.loads(line))
    return tests


def timeouts(build):
    """Each test's timeout in seconds by its log name ("project:suite / name" in the log, the name
    alone in the introspection): meson's log does not carry it."""
    try:
        out = subprocess.run(["meson", "introspect", build, "--tests"], capture_output=True,
                             text=True, check=True).stdout
        return {t["name"]: t.get("timeout") or 0 for t in json.loads(out)}
    except (OSError, subprocess.CalledProcessError, ValueError):
        return {}


def main():
    passed = failed = skipped = 0
    problems = []
    for arg in sys.argv[1:]:
        label, build = arg.split("=", 1)
        try:
            tests = read_log(build)
        except (OSError, ValueError) as e:
            problems.append("%s: no test log (%s)" % (label, e))
            failed += 1
            continue
        limits = timeouts(build)
        print("== check: %s: slowest tests" % label)
        for t in sorted(tests, key=lambda t: -t.get("duration", 0))[:5]:
            timeout = limits.get(t["name"].split(" / ", 1)[-1], 0)
            share = " (%d%% of its %ds timeout)" % (100 * t["duration"] / timeout, timeout) \
                if timeout > 0 else ""
            print("  %8.1f s  %s%s" % (t["duration"], t["name"], share))
        for t in tests:
            result = t.get("result", "?")
            if result in PASS:
                passed += 1
            elif result in SKIP:
                skipped += 1
                print("== check: %s: skipped %s: %s" % (
                    label, t["name"], last_line(t.get("stdout")) if t.get("stdout") else
                    last_line(t.get("stderr"))))
            else:
                failed += 1
                problems.append("%s: %s %s after %.1f s" % (label, result, t["name"],
                                                            t.get("duration", 0)))
    for p in problems:
        print("== check: FAILED: " + p)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
