"""Similarity flags for a human: answers that look like the published reference or like another submission.

A copydetect-style comparison (token k-grams, boilerplate removed), run by the
grader on the submitted notebooks' answer cells, never by a kernel:

- each answer cell is tokenized with :mod:`tokenize`; names and literals are
  replaced by placeholders (renaming variables does not hide a copy), comments
  and layout are dropped; the k-grams of the token stream are the fingerprint;
- k-grams of the released template (the stubs every student starts from) are removed;
- two fingerprints are compared by containment, ``|A & B| / min(|A|, |B|)``.

Pairs at or above the threshold are written to ``reports/<assignment>_similarity.csv``
(``student_id, other, similarity``; ``other`` is a student id or ``(reference)``).
Short answers are left out: when everyone writes three lines, three lines alike
prove nothing. A flag never changes a score.

Why not ``copydetect`` itself (checked with 0.5.0, which installs with our pins):
it is the same k-gram idea (plus winnowing, which only pays on large corpora), it
fingerprints files rather than answer cells, and on ps01 (the solution against a
copy with renamed variables and reordered functions, and against an independent
answer) it separated them no better than this module (1.00 / 0.00 at its default
k = 25 characters; here 0.96 / 0.33), while importing it loads matplotlib's pyplot
(about 0.8 s) in the grader.
"""

from __future__ import annotations

import csv
import io
import itertools
import keyword
import pathlib
import re
import tokenize

import nbformat

__all__ = ["fingerprint_code", "containment", "similar_pairs", "similarity_report"]

K = 8  # tokens per k-gram: a few-line answer still has k-grams; a shared idiom alone rarely fills one
REFERENCE = "(reference)"


def _tokens(code: str) -> list[str]:
    out: list[str] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string):
                out.append("N")
            elif tok.type == tokenize.NUMBER:
                out.append("0")
            elif tok.type == tokenize.STRING:
                out.append("S")
            else:
                out.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # an answer that does not parse still has the tokens read so far
    return out


def fingerprint_code(code: str) -> set[int]:
    """The set of hashed token k-grams of ``code``.

    Shape:
        Python source -> a set of ints (empty for fewer than ``K`` tokens).
    """
    toks = _tokens(code)
    return {hash(tuple(toks[i:i + K])) for i in range(len(toks) - K + 1)}


def containment(a: set[int], b: set[int]) -> float:
    """``|a & b| / min(|a|, |b|)``: 1.0 when the smaller one is contained in the other (0.0 if one is empty)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def _answers(path: pathlib.Path) -> str:
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable notebook has no answers to compare
        return ""
    cells = [c.source for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    text = "\n".join(cells)
    return re.sub(r"^\s*### (BEGIN|END) SOLUTION\s*$", "", text, flags=re.M)


def similar_pairs(prints: dict[str, set[int]], threshold: float = 0.9, min_kgrams: int = 60) -> list[tuple[str, str, float]]:
    """Every pair of fingerprints at or above ``threshold``, each of at least ``min_kgrams`` k-grams.

    Shape:
        {name: fingerprint} -> [(name, other, similarity)], highest first.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    big = {k: v for k, v in prints.items() if len(v) >= min_kgrams}
    pairs = [(a, b, containment(big[a], big[b])) for a, b in itertools.combinations(sorted(big), 2)]
    return sorted((p for p in pairs if p[2] >= threshold), key=lambda p: -p[2])


def similarity_report(course_root: str | pathlib.Path, assignment: str, students: list[str], *,
                      threshold: float = 0.9, min_kgrams: int = 60) -> pathlib.Path:
    """Compare the submitted answers of ``students`` with each other and with the source's solution.

    Writes ``reports/<assignment>_similarity.csv`` (a header only when nothing is alike).
    """
    root = pathlib.Path(course_root)
    template: set[int] = set()
    for path in (root / "release" / assignment).glob("*.ipynb"):
        template |= fingerprint_code(_answers(path))
    prints: dict[str, set[int]] = {}
    for path in (root / "source" / assignment).glob("*.ipynb"):
        prints[REFERENCE] = prints.get(REFERENCE, set()) | fingerprint_code(_answers(path))
    for s in students:
        fp: set[int] = set()
        for path in (root / "submitted" / s / assignment).glob("*.ipynb"):
            fp |= fingerprint_code(_answers(path))
        prints[s] = fp - template
    prints[REFERENCE] = prints.get(REFERENCE, set()) - template
    out = root / "reports" / f"{assignment}_similarity.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "other", "similarity"])
        for a, b, sim in similar_pairs(prints, threshold, min_kgrams):
            a, b = (b, a) if a == REFERENCE else (a, b)
            w.writerow([a, b, f"{sim:.2f}"])
    return out
