"""Runs every ```python block of a Markdown page, in order, in one namespace, from WORKDIR (which
holds the `out/...` folders the page reads). A block preceded by `<!-- needs: torch -->` (or
another module list) runs only where those modules import; the others must all run here.

usage: run_doc_blocks.py PAGE.md WORKDIR [--require-all]
"""

import importlib
import os
import re
import sys
import traceback

page, workdir = sys.argv[1], sys.argv[2]
require_all = "--require-all" in sys.argv
text = open(page, encoding="utf-8").read()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

blocks = []
needs = []
lines = text.split("\n")
i = 0
while i < len(lines):
    m = re.match(r"<!-- needs: (.*) -->", lines[i].strip())
    if m:
        needs = [n.strip() for n in m.group(1).split(",")]
    elif lines[i].strip() == "```python":
        start = i + 1
        j = start
        while lines[j].strip() != "```":
            j += 1
        blocks.append((start + 1, "\n".join(lines[start:j]), needs))
        needs = []
        i = j
    elif lines[i].strip():
        needs = needs if lines[i].startswith("<!--") else []
    i += 1


def available(modules):
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            return False
    return True


os.chdir(workdir)
namespace = {"__name__": "__doc__"}
ran = skipped = 0
for line, code, modules in blocks:
    if not available(modules):
        if require_all:
            sys.exit(f"{page}:{line}: needs {modules}, which do not import")
        print(f"{page}:{line}: skipped (needs {', '.join(modules)})")
        skipped += 1
        continue
    try:
        exec(compile(code, f"{page}:{line}", "exec"), namespace)
    except Exception:
        traceback.print_exc()
        sys.exit(f"{page}: the block at line {line} failed")
    ran += 1
print(f"{page}: {ran} blocks ran, {skipped} skipped")
assert ran > 0
