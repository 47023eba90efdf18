#!/usr/bin/env python3
"""Seeds the fuzz corpora from SPEC.md's test vectors, so the fuzzers start
from valid leaves, checkpoints and receipts instead of random bytes.
Run from anywhere: python3 fuzz/seed_corpus.py (stdlib only)."""
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent
spec = (root.parent / "SPEC.md").read_text()
blocks = dict(re.findall(r"```vector ([\w-]+)\n(.*?)```", spec, re.S))


def put(target, name, data):
    d = root / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"spec-{name}").write_bytes(data)


for name, body in blocks.items():
    if name.endswith("leaf"):
        put("leaf_decode", name, bytes.fromhex("".join(body.split())))
    elif name == "checkpoint":
        put("note_parse", name, body.encode())
        put("note_parse", "checkpoint-text", body.split("\n\n")[0].encode() + b"\n")
    elif name == "receipt":
        put("tlog_proof_parse", name, body.encode())
print("seeded", len(list((root / "corpus").glob("*/spec-*"))), "files from SPEC.md")
