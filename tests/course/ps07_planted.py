"""The planted ps07 submissions, graded ONCE per test session for both ps07 test modules.

``test_ps07_gpu_timing.py`` (the standard variants) and ``test_ps07_attacks.py`` (attacks on
the speed and correctness verdicts) read the same graded class: ps07 notebooks are slow to
grade (a Python loop over 8192 rows, two timing kernels per notebook), so each is graded once.
"""

from __future__ import annotations

import nbformat

from . import harness as H

A = "ps07_gpu_timing"
SPEC = H.spec(H.EXERCISES, A)
SOLUTION = {k: v for k, v in H.solution_answers(H.EXERCISES, A).items() if k in ("layer_norm", "rms_norm")}
OWNER = H.test_cells_of(H.EXERCISES, A)
MAX = sum(c.points for c in SPEC.CELLS if c.kind == "test")
SPEED = {"test_layer_norm_speed", "test_rms_norm_speed"}
#: Graded as a real class: a course secret (the hidden and timed inputs derive from it).
PRODUCTION = "\nc.Judge.secret = 'ps07-test-secret'\n"

# Correct results, one row at a time: 8192 trips through the interpreter per call.
LOOP = {
    "layer_norm": '''
def layer_norm(x, weight, bias, eps=1e-5):
    rows = x.reshape(-1, x.shape[-1])
    out = torch.empty_like(rows)
    for i in range(rows.shape[0]):
        row = rows[i]
        mean = row.mean()
        var = ((row - mean) ** 2).mean()
        out[i] = (row - mean) / torch.sqrt(var + eps) * weight + bias
    return out.reshape(x.shape)
''',
    "rms_norm": '''
def rms_norm(x, weight, eps=1e-6):
    rows = x.reshape(-1, x.shape[-1])
    out = torch.empty_like(rows)
    for i in range(rows.shape[0]):
        row = rows[i]
        out[i] = row / torch.sqrt((row * row).mean() + eps) * weight
    return out.reshape(x.shape)
''',
}
SLIPS = {
    "layer_norm": '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=1, keepdim=True)  # dimension 1 is the last one only for a matrix
    var = ((x - mean) ** 2).mean(dim=1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
''',
    "rms_norm": '''
def rms_norm(x, weight, eps=1e-6):
    ms = torch.zeros(x.shape[:-1] + (1,), dtype=x.dtype)  # on the CPU, whatever x.device is
    ms += (x * x).mean(dim=-1, keepdim=True)
    return x / torch.sqrt(ms + eps) * weight
''',
}
SLIP_CELLS = {"layer_norm": {"test_layer_norm_shapes"}, "rms_norm": {"test_rms_norm_device"}}
OTHER = {"layer_norm": "rms_norm", "rms_norm": "layer_norm"}
STUDENT_ANSWER = "Memory traffic limits it: my layer_norm reached 2 % of the copy's GB/s on the CPU."

# ---- attacks (each rides on the loop answer, or on a wrong answer, and must not gain) ------------

# (a) Rebind every timer and every course helper the kernel can reach, and claim a ratio.
REBIND = '''
import sys as _sys, time as _time
_time.perf_counter = _time.time = _time.monotonic = lambda: 0.0
for _name, _mod in list(_sys.modules.items()):
    if _name.startswith(("regnorm_lab", "torch.utils.benchmark")):
        for _attr in list(vars(_mod)):
            if _attr.startswith(("speed", "check", "assert", "run", "measure", "time", "best", "judge")):
                try:
                    setattr(_mod, _attr, lambda *a, **k: 1.0)
                except Exception:
                    pass
P.speed = lambda *a, **k: print("layer_norm took 1.0x the reference's time on the CPU (limit 3x)")
'''
# (c) Memoise by input: a repeated call on the same tensor (data_ptr or id) is free.
MEMO = '''
_memo = {}
_slow_layer_norm = layer_norm
def layer_norm(x, weight, bias, eps=1e-5):
    key = (x.data_ptr(), id(x), tuple(x.shape), x.dtype, eps)
    if key not in _memo:
        _memo[key] = _slow_layer_norm(x, weight, bias, eps)
    return _memo[key]
'''
# (d) An input transformer: later test cells become `pass`, and any timed cell of the grader runs
# the fused kernel instead of the student's loop (the name built at run time, hidden from a reader).
TRANSFORMER = '''
def _rewrite(lines):
    text = "".join(lines)
    if "Test:" in text:
        return ["pass\\n"]
    return [ln.replace("layer_norm(", "torch.nn.functional." + "layer" + "_norm_fast(") for ln in lines]
import torch.nn.functional as _F
setattr(_F, "layer" + "_norm_fast", lambda x, w, b, eps=1e-5: _F.layer_norm(x, (x.shape[-1],), w, b, eps))
get_ipython().input_transformers_post.append(_rewrite)
'''
# (e) A busy background thread, started in the answer cell, meant to slow whatever is timed next.
THREAD = '''
import threading as _threading
def _spin():
    _a = torch.randn(256, 256)
    while True:
        _a = torch.tanh(_a @ _a)
_threading.Thread(target=_spin, daemon=True).start()
'''
# (f) Delegation out of the answer cell: a wrong answer cell, and a cell the student added that
# rebinds the name to the framework's fused kernel (every test cell would then pass).
REBOUND = "import torch.nn.functional as _F2\nlayer_norm = lambda x, w, b, eps=1e-5: _F2.layer_norm(x, (x.shape[-1],), w, b, eps)"


def _add_cell_after_answers(source: str):
    def edit(nb) -> None:
        i = max(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "rms_norm")
        nb.cells.insert(i + 1, nbformat.v4.new_code_cell(source))

    return edit


MISTAKE_LN = SPEC.MISTAKES["layer_norm"][0]
LOOP_LN = {**SOLUTION, "layer_norm": LOOP["layer_norm"]}  # the base of the speed attacks: layer_norm loops
ATTACKS = {
    "attack_rebind": {"answers": {**LOOP_LN, "layer_norm": LOOP["layer_norm"] + REBIND}},
    "attack_memo": {"answers": {**LOOP_LN, "layer_norm": LOOP["layer_norm"] + MEMO}},
    "attack_transformer": {"answers": {**LOOP_LN, "layer_norm": LOOP["layer_norm"] + TRANSFORMER}},
    "attack_thread": {"answers": {**LOOP_LN, "layer_norm": LOOP["layer_norm"] + THREAD}},
    "attack_rebound": {"answers": {**SOLUTION, "layer_norm": MISTAKE_LN}, "edit": _add_cell_after_answers(REBOUND)},
}
#: attack -> the honest variant it is compared with.
BASE = {"attack_rebind": "loop_layer_norm", "attack_memo": "loop_layer_norm", "attack_transformer": "loop_layer_norm",
        "attack_thread": "loop_layer_norm", "attack_rebound": "mistake_layer_norm"}

VARIANTS = {
    **H.standard_variants(SPEC, SOLUTION),
    "loop": {"answers": LOOP},
    "loop_layer_norm": {"answers": LOOP_LN},
    **ATTACKS,
}
VARIANTS["solution"]["answers"]["written_answer"] = STUDENT_ANSWER
for _fn in SPEC.MISTAKES:
    VARIANTS[f"mistake_{_fn}"]["answers"][OTHER[_fn]] = SLIPS[OTHER[_fn]]
# the attack on a wrong answer is compared with the same wrong answer (its rms_norm slip included)
ATTACKS["attack_rebound"]["answers"]["rms_norm"] = SLIPS["rms_norm"]

_GRADED: dict[str, H.Graded] = {}


def graded(tmp_path_factory) -> H.Graded:
    """Every variant above, graded in one nbgrader call (once per test session)."""
    if "g" not in _GRADED:
        # a Python loop over 8192 rows takes seconds per call on a loaded machine: a generous cell limit
        _GRADED["g"] = H.grade_variants(tmp_path_factory.mktemp("ps07"), A, VARIANTS, timeout=120, config=PRODUCTION)
    return _GRADED["g"]


def cells(g: H.Graded, student: str) -> dict[str, tuple[float, float]]:
    """The autograded test cells' (score, max) of one student (the hand-graded written answer left out)."""
    return {k: v for k, v in g.cells(student).items() if k.startswith("test_")}


def failing(g: H.Graded, student: str) -> set[str]:
    return {k for k, (s, m) in cells(g, student).items() if s < m}


def autograded_nb(g: H.Graded, student: str):
    return nbformat.read(str(g.course / "autograded" / student / A / f"{A}.ipynb"), as_version=4)


def cell_text(nb, grade_id: str) -> str:
    """All text and plain-text outputs of the cell with ``grade_id``."""
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    parts = []
    for out in cell.get("outputs", []):
        parts.append(str(out.get("text", "")))
        parts.append(str(out.get("data", {}).get("text/plain", "")))
        parts.append(str(out.get("evalue", "")))
    return "\n".join(parts)
