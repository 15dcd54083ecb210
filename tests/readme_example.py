#!/usr/bin/env python3
"""The README's embedding example, as a test.

  readme_example.py extract README.md OUT.cpp   writes the first ```cpp block under the
                                                "## Stages (embedding API)" heading to OUT.cpp
  readme_example.py check EXE N                 runs EXE: it must exit 0 and print 0..N-1, one a line
"""
import subprocess
import sys

HEADING = "## Stages (embedding API)"


def extract(readme, out):
    text = open(readme, encoding="utf-8").read()
    start = text.find("\n" + HEADING + "\n")
    if start < 0:
        sys.exit(f"{readme}: no heading '{HEADING}'")
    section_end = text.find("\n## ", start + 1)
    begin = text.find("\n```cpp\n", start, section_end if section_end >= 0 else len(text))
    if begin < 0:
        sys.exit(f"{readme}: no ```cpp block under '{HEADING}'")
    begin += len("\n```cpp\n")
    end = text.find("\n```\n", begin)
    line = text.count("\n", 0, begin) + 1
    with open(out, "w", encoding="utf-8") as f:
        f.write(f'#line {line} "{readme}"\n' + text[begin:end + 1])


def check(exe, count):
    run = subprocess.run([exe], capture_output=True, text=True, timeout=60)
    expected = "".join(f"{i}\n" for i in range(int(count)))
    if run.returncode != 0 or run.stdout != expected:
        sys.exit(f"{exe}: exit {run.returncode}, printed {len(run.stdout.splitlines())} lines "
                 f"(expected exit 0 and the numbers 0 to {int(count) - 1}):\n{run.stdout[:2000]}{run.stderr[:2000]}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "extract":
        extract(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
