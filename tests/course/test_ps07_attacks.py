"""Attacks on ps07's verdicts, above all its speed points, graded through the real pipeline.

Before issue 14 the speed cells timed the student's function inside the student's own
kernel (``gt.speed_ratio``): one line rebinding that timer earned every speed point for a
Python loop. Now the grader's clock times the student's answer cells against the reference
in two fresh sandboxed kernels (``regnorm_lab/course/clock.py``). Each attack below rides on
an honest variant and must score no more than it, cell by cell:

(a) ``rebind``: timers, course helpers and ``P.speed`` rebound in the answer cell (on a loop);
(b) the loop itself (``loop_layer_norm``): no speed points;
(c) ``memo``: results memoised by the input's data_ptr/id, so repeated timed calls are free;
(d) ``transformer``: an IPython input transformer that blanks later test cells and rewrites
    any timed call to the fused kernel;
(e) ``thread``: a busy background thread meant to slow the reference's timing;
(f) ``rebound``: a wrong answer, and a cell the student added that rebinds the name to
    ``F.layer_norm``; the ``shortcuts`` variant of ``test_ps07_gpu_timing`` delegates openly.
"""

from __future__ import annotations

import pytest

from . import harness as H
from . import ps07_planted as P7

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> H.Graded:
    return P7.graded(tmp_path_factory)


def test_solution_full_blank_zero_bases_partial(graded: H.Graded) -> None:
    assert sum(s for s, _ in P7.cells(graded, "solution").values()) == P7.MAX
    assert sum(s for s, _ in P7.cells(graded, "blank").values()) == 0.0
    for base in sorted(set(P7.BASE.values())):
        score = sum(s for s, _ in P7.cells(graded, base).values())
        assert 0 < score < P7.MAX, f"{base}: {score}"
    assert P7.failing(graded, "loop_layer_norm") == {"test_layer_norm_speed"}


@pytest.mark.parametrize("attack", sorted(P7.ATTACKS))
def test_an_attack_scores_no_more_than_the_same_answer_without_it(graded: H.Graded, attack: str) -> None:
    honest = P7.cells(graded, P7.BASE[attack])
    attacked = P7.cells(graded, attack)
    assert set(attacked) == set(honest)
    gained = {c: (attacked[c][0], honest[c][0]) for c in honest if attacked[c][0] > honest[c][0]}
    assert not gained, f"{attack} gained points in {gained}"
    assert attacked["test_layer_norm_speed"][0] == 0.0


def test_the_speed_attacks_are_told_why(graded: H.Graded) -> None:
    # the transformer's answer cell names the fused kernel too (the most specific finding is reported);
    # get_ipython alone is caught as well (test_judge)
    assert "layer_norm calls torch.nn.functional.layer_norm: write it yourself" in graded.feedback_text("attack_transformer")
    assert "layer_norm calls torch.nn.functional.layer_norm: write it yourself" in graded.feedback_text("attack_rebound")
    for attack in ("attack_memo", "attack_thread"):
        assert "not row by row in Python" in graded.feedback_text(attack), attack
    # the kernel's own claim of a ratio never reaches the speed cell's output
    text = P7.cell_text(P7.autograded_nb(graded, "attack_rebind"), "test_layer_norm_speed")
    assert "took 1.0x" not in text and "did not run to the end" in text


def _cpu_ticks(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except OSError:
            pass
    return total


def test_a_frozen_kernel_and_its_threads_use_no_cpu_until_thawed() -> None:
    """The clock freezes the kernel it is not timing: a student's busy thread cannot run meanwhile."""
    import time

    from traitlets.config import Config

    from regnorm_lab.course import clock

    k = clock._Kernel(Config(), None)
    try:
        status, _, _ = k.run("import threading\ndef _spin():\n    while True:\n        sum(range(1000))\nthreading.Thread(target=_spin, daemon=True).start()", 30)
        assert status == "ok"
        time.sleep(0.3)
        k.freeze()
        time.sleep(0.2)  # let the stop land everywhere
        before = _cpu_ticks(k._pids())
        time.sleep(1.0)
        assert _cpu_ticks(k._pids()) - before <= 1  # clock ticks are 10 ms: frozen
        k.thaw()
        before = _cpu_ticks(k._pids())
        time.sleep(1.0)
        assert _cpu_ticks(k._pids()) - before >= 20  # the thread spins again (>= 0.2 s of CPU in 1 s)
        k.pin(sorted(__import__("os").sched_getaffinity(0))[0])
    finally:
        k.close()


def test_the_clock_times_on_the_cpu_even_where_the_grader_sees_a_gpu(monkeypatch) -> None:
    """On a GPU machine the grader's clock still times on the CPU and says so (module docstring of
    clock: the sandbox has no GPU, and asynchronous GPU work would fool the clock). Here the grader's
    process is told CUDA is there; its kernels, separate processes, are not."""
    import nbformat
    import torch
    from traitlets.config import Config

    from regnorm_lab.course import clock

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    source = H.REPO / "exercises" / "source" / "ps07_gpu_timing" / "ps07_gpu_timing.ipynb"
    nb = nbformat.read(str(source), as_version=4)  # the solution as the student's answers
    (timing,) = clock.measure(nb, "ps07_gpu_timing", clock.reference_answers(source), secret="test", config=Config(),
                              functions=["rms_norm"]).values()
    assert timing.passed and timing.ratio is not None, timing.message
    assert timing.message.startswith("rms_norm took ") and timing.message.endswith("on the CPU (limit 3x)"), timing.message
    assert "cuda" not in clock._SETUP and "synchronize" not in clock._SETUP + clock._PREPARE + clock._TIMED
