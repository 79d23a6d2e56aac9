#!/usr/bin/env python3
"""Sanity checks for the look-alike retrieval eval set.

Run: python3 benchmarks/data/lookalike/validate.py
Exits non-zero on any hard error; prints warnings for softer issues.
"""
import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "docs")
REQUIRED = ["id", "question", "doc", "answer", "evidence", "lang", "split"]


def word_count(text):
    cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
    latin = len(re.findall(r"[A-Za-z0-9][A-Za-z0-9.,'’%/-]*", text))
    # ~1.7 CJK characters per English-word equivalent
    return latin + round(cjk / 1.7), cjk


def main():
    errors, warnings = [], []
    docs = {}
    for name in sorted(os.listdir(DOCS)):
        if name.endswith(".md"):
            with open(os.path.join(DOCS, name), encoding="utf-8") as f:
                docs[name] = f.read()
    for name, text in docs.items():
        wc, cjk = word_count(text)
        if not (150 <= wc <= 400):
            errors.append(f"{name}: ~{wc} words (want 150-400)")

    rows = []
    with open(os.path.join(HERE, "questions.jsonl"), encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                errors.append(f"line {i}: JSON error {e}")

    ids = collections.Counter(r.get("id") for r in rows)
    for k, v in ids.items():
        if v > 1:
            errors.append(f"duplicate id {k}")

    family_of = {}
    for r in rows:
        family_of[r["doc"]] = r.get("family")

    for r in rows:
        rid = r.get("id")
        for k in REQUIRED:
            if not r.get(k):
                errors.append(f"{rid}: missing {k}")
        if r.get("lang") not in ("en", "zh"):
            errors.append(f"{rid}: bad lang")
        if r.get("split") not in ("dev", "test"):
            errors.append(f"{rid}: bad split")
        doc = r.get("doc")
        if doc not in docs:
            errors.append(f"{rid}: unknown doc {doc}")
            continue
        ev, ans = r["evidence"], r["answer"]
        if ev not in docs[doc]:
            errors.append(f"{rid}: evidence not verbatim in {doc}: {ev!r}")
        if ans not in ev:
            errors.append(f"{rid}: answer {ans!r} not in evidence")
        others = [d for d in docs if d != doc and family_of.get(d) == r.get("family")]
        # evidence sentence must identify exactly one document
        dup = [d for d in docs if d != doc and ev in docs[d]]
        if dup:
            errors.append(f"{rid}: evidence also occurs in {dup}")
        # softer: answer string ideally absent from look-alike siblings
        sib = [d for d in others if ans in docs[d]]
        if sib:
            warnings.append(f"{rid}: answer {ans!r} also appears in sibling(s) {sib}")

    by_fam = collections.defaultdict(collections.Counter)
    for r in rows:
        by_fam[r.get("family")][r["split"]] += 1
    per_doc = collections.Counter(r["doc"] for r in rows)
    unused = [d for d in docs if d not in per_doc]
    if unused:
        errors.append(f"docs without questions: {unused}")

    print(f"docs: {len(docs)}  questions: {len(rows)}  unique ids: {len(ids)}")
    print("lang:", dict(collections.Counter(r['lang'] for r in rows)))
    print("split:", dict(collections.Counter(r['split'] for r in rows)))
    for fam in sorted(by_fam):
        print(f"  family {fam}: {dict(by_fam[fam])}")
    for name, text in docs.items():
        wc, cjk = word_count(text)
        extra = f" ({cjk} CJK chars)" if cjk else ""
        print(f"  {name}: ~{wc} words{extra}, {per_doc[name]} questions")
    for w in warnings:
        print("WARN", w)
    for e in errors:
        print("ERROR", e)
    print("OK" if not errors else f"{len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
