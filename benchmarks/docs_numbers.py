"""Check that cutting the README into the docs site lost no number.

Every number token of the old README (a git revision's README.md, or a file) must occur at
least as often in today's README.md and docs/**/*.md together. For a revision the old
docs/**/*.md count on the old side too (unless --readme-only), so a page that was already
there cannot hide a number the README lost. Also lists the old README's lines that
appear nowhere in the new text once heading marks and link targets are set aside: those are
the lines whose wording changed (links whose text changed, or an edit), for a person to read.

    python benchmarks/docs_numbers.py                 # against 90297d6, the last long README
    python benchmarks/docs_numbers.py --old HEAD~3    # another revision
    python benchmarks/docs_numbers.py --old /tmp/README.md

Exit code 0 when no number was lost, 1 otherwise.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The last commit whose README.md held every section (1,988 lines) before the docs site.
DEFAULT_OLD = "90297d6"
# 1,000 and 0.748 and 1e-4 are one token each; "i12clone" gives "12", on both sides alike.
NUMBER = re.compile(r"\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?")
LINK = re.compile(r"\]\([^)]*\)")


def numbers(text: str) -> Counter:
    return Counter(NUMBER.findall(text))


def git(args: list[str]) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def old_texts(old: str, with_docs: bool) -> list[str]:
    path = Path(old)
    if path.is_file():
        return [path.read_text()]
    texts = [git(["show", f"{old}:README.md"])]
    if with_docs:
        names = git(["ls-tree", "-r", "--name-only", old, "docs"]).split()
        texts += [git(["show", f"{old}:{n}"]) for n in names if n.endswith(".md")]
    return texts


def new_texts() -> list[str]:
    return [(ROOT / "README.md").read_text()] + [p.read_text() for p in sorted((ROOT / "docs").rglob("*.md"))]


def normal(line: str) -> str:
    return LINK.sub("]()", line.lstrip("#").strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", default=DEFAULT_OLD, help="a git revision (its README.md) or a file")
    ap.add_argument("--readme-only", action="store_true",
                    help="count the old README alone on the old side (not the revision's docs pages too)")
    args = ap.parse_args(argv)

    old = old_texts(args.old, with_docs=not args.readme_only)
    new = new_texts()
    before, after = numbers("\n".join(old)), numbers("\n".join(new))
    lost = {tok: (n, after[tok]) for tok, n in before.items() if after[tok] < n}
    side = "old README" if args.readme_only or Path(args.old).is_file() else "old README + old docs"
    print(f"{side}: {sum(before.values())} number tokens ({len(before)} distinct); "
          f"new README + docs: {sum(after.values())} ({len(after)} distinct)")
    for tok, (n, m) in sorted(lost.items()):
        print(f"  lost: {tok!r} {n} times before, {m} now")
    print("no number lost" if not lost else f"{len(lost)} number tokens occur fewer times than before")

    new_lines = {normal(l) for text in new for l in text.splitlines()}
    changed = [(i, l) for i, l in enumerate(old[0].splitlines(), 1) if l.strip() and normal(l) not in new_lines]
    print(f"old README lines not found verbatim (headings and link targets aside): {len(changed)}")
    for i, l in changed:
        print(f"  {i}: {l[:160]}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
