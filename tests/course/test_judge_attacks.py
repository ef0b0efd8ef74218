"""Attacks a student who knows nbgrader can plant in ps01, graded through the real pipeline.

Each attack is the same wrong (or delegating) answer as an honest variant plus one trick
in an answer cell. The rule (issue 14): an attack never scores more than the same answer
without it. While the checks ran in the student's kernel (before issue 14), rebinding them,
the input transformer and the exec'd delegation gained points (up to full marks).
"""

from __future__ import annotations

import pytest

from . import harness as H

pytestmark = pytest.mark.slow
A = "ps01_penalties"
SPEC = H.spec(H.EXERCISES, A)
SOLUTION = H.solution_answers(H.EXERCISES, A)
OWNER = H.test_cells_of(H.EXERCISES, A)
MISTAKES = {fn: code for fn, (code, _cells) in SPEC.MISTAKES.items()}
MAX = H.autograded_max(SPEC)

# Rebind every check_*/assert_*/run helper of every loaded course module to a no-op.
REBIND = """
import sys as _sys
for _name, _mod in list(_sys.modules.items()):
    if _name.startswith("regnorm_lab"):
        for _attr in list(vars(_mod)):
            if _attr.startswith(("check", "assert", "run", "probe", "emit", "record")):
                try:
                    setattr(_mod, _attr, lambda *a, **k: None)
                except Exception:
                    pass
"""

# An IPython input transformer: every later cell that names a test becomes `pass`.
TRANSFORMER = """
def _skip_tests(lines):
    return ["pass\\n"] if any("Test:" in line for line in lines) else lines
get_ipython().input_transformers_post.append(_skip_tests)
"""

# Swallow every exception of every later cell and print a reassuring line instead.
FAKE_PASSED = """
def _all_passed(shell, etype, evalue, tb, tb_offset=None):
    print("All checks passed.")
get_ipython().set_custom_exc((BaseException,), _all_passed)
print("Test passed")
"""

# Forged probe records: whatever MIME bundle the probe writes, claim success in it, and
# replace the probe's entry points by functions that only write such claims.
FORGE = """
from IPython.display import display as _display
_FORGED = {"passed": True, "verdict": "pass", "ok": True, "score": 1e9}
def _forge(*args, **kwargs):
    cell = args[0] if args and isinstance(args[0], str) else "?"
    for mime in ("application/vnd.regnorm-lab.probe+json", "application/json"):
        _display({mime: {"version": 1, "cell": cell, "check": "visible", "hidden": False, "cases": [], **_FORGED}}, raw=True)
        _display({mime: {"version": 1, "cell": cell, "check": "hidden", "hidden": True, "cases": [], **_FORGED}}, raw=True)
    print("Test passed")
type(P).run = lambda self, *args, **kwargs: _forge(*args, **kwargs)
P.run = _forge
"""

# Delegation hidden from a static reading (exec of a string naming the reference at run
# time) and, for the in-kernel checks of old, the delegation check itself switched off.
DELEGATE = '''
import sys as _sys
for _name, _mod in list(_sys.modules.items()):
    if _name.startswith("regnorm_lab") and hasattr(_mod, "assert_own_work"):
        _mod.assert_own_work = lambda *a, **k: None
exec("def l1_penalty(w, lam):\\n    return __import__('regnorm' + '_lab').l1_penalty(w, lam)\\n")
'''

ATTACKS = {"rebind": REBIND, "transformer": TRANSFORMER, "fake_passed": FAKE_PASSED, "forge": FORGE}
VARIANTS = {
    "solution": {"answers": SOLUTION},
    "blank": {},
    "mistakes": {"answers": {**SOLUTION, **MISTAKES}},
    **{f"attack_{k}": {"answers": {**SOLUTION, **MISTAKES, "l1_penalty": code + MISTAKES["l1_penalty"]}} for k, code in ATTACKS.items()},
    "attack_delegate": {"answers": {**SOLUTION, "l1_penalty": DELEGATE}},
}


# Graded as a class will be once every assignment uses the probe: the reference hidden from
# the kernels (the sandbox's stub package) and a course secret for the hidden inputs.
PRODUCTION = "\nc.Sandbox.hide_reference = True\nc.Judge.secret = 'attack-test-secret'\n"


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> H.Graded:
    return H.grade_variants(tmp_path_factory.mktemp("attacks"), A, VARIANTS, timeout=20, config=PRODUCTION)


def test_solution_full_marks_blank_zero_mistakes_partial(graded: H.Graded) -> None:
    assert graded.score("solution") == (MAX, MAX)
    H.check_zero(graded, "blank")
    honest = graded.score("mistakes")[0]
    assert 0 < honest < MAX


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_scores_no_more_than_the_same_wrong_answers(graded: H.Graded, attack: str) -> None:
    honest = graded.cells("mistakes")
    attacked = graded.cells(f"attack_{attack}")
    gained = {c: (attacked[c][0], honest[c][0]) for c in honest if attacked[c][0] > honest[c][0]}
    assert not gained, f"attack {attack} gained points in {gained}"
    assert graded.score(f"attack_{attack}")[1] == MAX


def test_delegating_through_exec_loses_that_functions_points_and_says_why(graded: H.Graded) -> None:
    cells = graded.cells("attack_delegate")
    for cell, fn in OWNER.items():
        s, m = cells[cell]
        assert (s == 0) if fn == "l1_penalty" else (s == m), f"{cell}: {s}/{m}"
    text = graded.feedback_text("attack_delegate")
    assert "l1_penalty" in text and "write it yourself" in text
