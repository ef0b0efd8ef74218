"""Similarity flags (issue 14 item 4): a renamed copy is found, an independent answer is not, the pair is named."""

from __future__ import annotations

import csv
import pathlib

import pytest

from regnorm_lab.course.similarity import REFERENCE, containment, fingerprint_code, similar_pairs, similarity_report

from . import harness as H

A = "ps01_penalties"
LOOP = '''
def l1_penalty(w, lam):
    if lam < 0:
        raise ValueError("lam must be >= 0")
    total = 0.0
    for value in np.asarray(w, dtype=float).ravel():
        total = total + (value if value >= 0 else -value)
    return float(lam * total)
'''
# the same code with every name changed and comments added: still a copy
RENAMED = '''
def l1_penalty(weights, strength):
    # my own work
    if strength < 0:
        raise ValueError("strength must be >= 0")
    acc = 0.0
    for x in np.asarray(weights, dtype=float).ravel():
        acc = acc + (x if x >= 0 else -x)
    return float(strength * acc)
'''


def test_renaming_does_not_hide_a_copy_and_different_code_differs() -> None:
    a, b = fingerprint_code(LOOP), fingerprint_code(RENAMED)
    assert containment(a, b) == 1.0
    vectorised = fingerprint_code("def l1_penalty(w, lam):\n    return float(lam * np.abs(w).sum())\n")
    assert containment(a, vectorised) < 0.5
    assert similar_pairs({"x": a, "y": b, "z": vectorised}, threshold=0.9, min_kgrams=5) == [("x", "y", 1.0)]
    with pytest.raises(ValueError, match="threshold"):
        similar_pairs({}, threshold=0)


def test_the_report_names_the_pair_and_the_reference(tmp_path: pathlib.Path) -> None:
    course = H.copy_course(tmp_path, [A])
    H.release(course, A)
    solution = H.solution_answers(H.EXERCISES, A)
    own = {**solution, "l1_penalty": LOOP}
    H.plant(course, "copier_a", A, {**own, "l1_penalty": RENAMED})
    H.plant(course, "copier_b", A, own)
    H.plant(course, "ref_copy", A, solution)
    H.plant(course, "blank", A)
    path = similarity_report(course, A, ["blank", "copier_a", "copier_b", "ref_copy"], threshold=0.9, min_kgrams=20)
    with open(path, newline="") as f:
        rows = {(r["student_id"], r["other"]) for r in csv.DictReader(f)}
    assert ("copier_a", "copier_b") in rows
    assert ("ref_copy", REFERENCE) in rows
    assert not any("blank" in pair for pair in rows)  # the released template alone is nobody's copy
