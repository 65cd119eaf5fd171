#!/usr/bin/env python3
"""notebooks/relative-paths.py NOTEBOOK.ipynb ...: rewrites machine paths in the notebooks' outputs (never in their
sources): the repository root becomes a path relative to it, the home directory ~. The project's own log lines
already print such paths (TokenCache.shown); this covers the kernel's messages (`%jar` prints the absolute jar path).
run-all.sh applies it after each run; the file is rewritten only if something changed, formatted as nbformat does."""
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIXES = [(REPO + "/", ""), (os.path.expanduser("~").rstrip("/") + "/", "~/")]


def relative(text):
    for prefix, replacement in PREFIXES:
        if prefix not in ("/", "~/"):
            text = text.replace(prefix, replacement)
    return text


def rewrite(value):
    if isinstance(value, str):
        return relative(value)
    if isinstance(value, list):
        return [rewrite(v) for v in value]
    if isinstance(value, dict):
        return {k: rewrite(v) for k, v in value.items()}
    return value


for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        original = f.read()
    nb = json.loads(original)
    for cell in nb.get("cells", []):
        if "outputs" in cell:
            cell["outputs"] = rewrite(cell["outputs"])
    text = json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    if text != original:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"relative-paths: {path}: machine paths in outputs rewritten")
