#!/usr/bin/env python3
"""scripts/summarize-tests.py — sum doctest test cases over meson build dirs and print the verdict.

Usage: scripts/summarize-tests.py DIR[=STATUS] ...

For each DIR it reads DIR/meson-logs/testlog.json (one JSON object per line, written by `meson test`;
meson 1.0 keys used here: name, result, returncode, stdout with stderr merged in) and counts, per test
executable:
  * the doctest summary line `[doctest] test cases: T | P passed | F failed | S skipped` (last one in the
    output): P passed and F failed;
  * no summary line (crash, timeout, sanitizer abort, killed): 1 failed, or 1 passed if meson says OK
    (a plain non-doctest test() such as a smoke run of an app);
  * a summary saying 0 failed but meson result not OK (e.g. a sanitizer report at exit turned the exit
    code non-zero): 1 extra failed;
  * meson result SKIP: counted as skipped.
STATUS (given by scripts/test) is `ran` (default), `no-tests` (counts nothing), or anything else, e.g.
`build-failed`, which counts the dir as 1 failed without reading its log. A dir that `ran` but has no testlog.json counts 1 failed.

Prints a summary per dir, then a last line alone: `N passed, N failed`. Exit status 0 iff 0 failed.
"""
import json
import os
import re
import sys

SUMMARY_RE = re.compile(
    r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed(?:\s*\|\s*(\d+) skipped)?")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
OK_RESULTS = {"OK", "EXPECTEDFAIL"}


def summarize_test(entry):
    """Return (passed, failed, skipped, note) for one testlog.json entry."""
    result = entry.get("result", "?")
    out = ANSI_RE.sub("", entry.get("stdout") or "") + ANSI_RE.sub("", entry.get("stderr") or "")
    matches = SUMMARY_RE.findall(out)
    if result == "SKIP":
        return 0, 0, 1, "skipped"
    if not matches:
        if result in OK_RESULTS:
            return 1, 0, 0, "ok (no doctest summary)"
        return 0, 1, 0, f"{result} rc={entry.get('returncode')} with no doctest summary (crash/timeout/abort?)"
    _total, passed, failed, skipped = (int(x or 0) for x in matches[-1])
    note = f"{result}"
    if result not in OK_RESULTS and failed == 0:
        failed = 1
        note = f"{result} rc={entry.get('returncode')} although doctest reported 0 failed (sanitizer report?)"
    return passed, failed, skipped, note


def summarize_dir(path, status):
    """Return (passed, failed, skipped, lines) for one build dir."""
    if status == "no-tests":
        return 0, 0, 0, ["  no test() registered in this build dir: nothing ran"]
    if status != "ran":
        return 0, 1, 0, [f"  {status}: counted as 1 failed"]
    log = os.path.join(path, "meson-logs", "testlog.json")
    if not os.path.isfile(log):
        return 0, 1, 0, [f"  no {log}: counted as 1 failed"]
    passed = failed = skipped = 0
    lines = []
    with open(log, encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            raw = raw.strip()
            if not raw:
                continue
            try:
                entry = json.loads(raw)
            except json.JSONDecodeError:
                failed += 1
                lines.append("  unreadable line in testlog.json: counted as 1 failed")
                continue
            p, f, s, note = summarize_test(entry)
            passed, failed, skipped = passed + p, failed + f, skipped + s
            mark = "FAIL" if f else "ok  "
            lines.append(f"  {mark} {entry.get('name', '?')}: {p} passed, {f} failed"
                         + (f", {s} skipped" if s else "") + f"  [{note}]")
    if not lines:
        lines.append("  (no tests registered)")
    return passed, failed, skipped, lines


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    total_p = total_f = 0
    print("=" * 72)
    print("Test summary (doctest test cases)")
    for arg in argv:
        path, _, status = arg.partition("=")
        p, f, s, lines = summarize_dir(path, status or "ran")
        total_p, total_f = total_p + p, total_f + f
        print(f"{os.path.basename(os.path.normpath(path))}: {p} passed, {f} failed"
              + (f", {s} skipped" if s else ""))
        for line in lines:
            print(line)
    print("=" * 72)
    print(f"{total_p} passed, {total_f} failed")
    return 0 if total_f == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
