#!/usr/bin/env python3
"""Copies the JSON object a command printed (its whole stdout, or its last line after log lines) to a
file, pretty-printed; exits 1 with one line when there is none.

    python3 hack/gpu/last_json.py STDOUT_FILE OUT.json
"""
import json
import sys

if len(sys.argv) != 3:
    sys.exit("usage: last_json.py STDOUT_FILE OUT.json")
text = open(sys.argv[1]).read()
try:
    obj = json.loads(text)
except ValueError:
    lines = text.strip().splitlines()
    try:
        obj = json.loads(lines[-1]) if lines else None
    except ValueError:
        obj = None
if not isinstance(obj, dict):
    sys.exit(f"last_json: no JSON object in {sys.argv[1]}")
with open(sys.argv[2], "w") as f:
    json.dump(obj, f, indent=1)
