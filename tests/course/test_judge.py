"""The grader's side of the probe, without kernels (fast): records, verdicts, delegation, the pipeline steps."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest
import torch
from nbformat.v4 import new_code_cell, new_output
from nbgrader import utils
from traitlets.config import Config

from regnorm_lab.course import cases, delegation, judge, probe, verdicts

A = "ps01_penalties"


def _record(cell: str, fn, hidden: bool = False, key: str | None = None) -> list[dict]:
    """What the kernel's probe would write for ``fn`` (run here, in-process)."""
    out = []
    for index, check in enumerate(cases.load(A)[cell]):
        if check.hidden != hidden:
            continue
        inputs = check.make(np.random.default_rng(probe.check_seed(A, cell, index, key)))
        results = [probe.run_case(fn, c, check.runner) for c in inputs]
        out.append(json.loads(json.dumps({"version": 1, "assignment": A, "cell": cell, "check": index, "hidden": hidden, "cases": results})))
    return out


def _good_l1(w, lam):
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    return float(lam * np.abs(np.asarray(w, dtype=np.float64)).sum())


def _bad_l1(w, lam):
    return float(lam * np.asarray(w, dtype=np.float64).sum())  # no absolute value


# ---- plain-data encoding ---------------------------------------------------------------------

def test_values_survive_encoding_and_nothing_is_pickled() -> None:
    values = (1.5, np.float32(2.5), np.arange(6.0).reshape(2, 3), np.array([True, False]), [None, 3, "x"], torch.tensor([1.0, 2.0]))
    back = probe.decode(json.loads(json.dumps(probe.encode(values))))
    assert type(back[0]) is float and back[0] == 1.5
    assert back[1].dtype == np.float32 and back[1].shape == ()
    assert back[2].shape == (2, 3) and (back[2] == np.arange(6.0).reshape(2, 3)).all()
    assert back[3].dtype == bool and back[4] == [None, 3, "x"]
    assert isinstance(back[5], probe.Tensor) and back[5].dtype == "torch.float32"
    # an object array would need pickle: it is named, never loaded
    assert probe.encode(np.array([object()], dtype=object))["t"] == "other"
    with pytest.raises(ValueError):
        probe.decode({"t": "ndarray", "npy": "bm90IGFuIGFycmF5"})


# ---- verdicts on records ---------------------------------------------------------------------

def test_a_right_record_passes_and_a_wrong_one_fails_with_one_line() -> None:
    cell = "test_l1_penalty_forward"
    (good,) = _record(cell, _good_l1)
    assert verdicts.judge_record(A, cell, 0, None, good) is None
    (bad,) = _record(cell, _bad_l1)
    message = verdicts.judge_record(A, cell, 0, None, bad)
    assert message == "l1_penalty([[1, -2], [0.5, 0]], 0.1): expected 0.35, got -0.05"


def test_hidden_inputs_follow_the_key_and_a_record_for_other_inputs_fails() -> None:
    cell = "test_l1_penalty_forward"
    key_a, key_b = probe.cell_key("secret-a", A, cell), probe.cell_key("secret-b", A, cell)
    assert key_a != key_b
    records = _record(cell, _good_l1, hidden=True, key=key_a)
    assert all(verdicts.judge_record(A, cell, r["check"], key_a, r) is None for r in records)
    # the same honest outputs, but for the inputs of another secret: the grader does not accept them
    assert "did not run on the grader's inputs" in verdicts.judge_record(A, cell, records[0]["check"], key_b, records[0])


@pytest.mark.parametrize("forge", ["empty", "fewer", "claims", "garbage"])
def test_forged_records_fail(forge: str) -> None:
    cell = "test_l1_penalty_forward"
    (record,) = _record(cell, _good_l1)
    if forge == "empty":
        record["cases"] = []
    elif forge == "fewer":
        record = {"cell": cell, "check": 0}
    elif forge == "claims":
        record["cases"] = [{"inputs": record["cases"][0]["inputs"], "passed": True}]
    else:
        record["cases"][0]["returned"] = {"t": "ndarray", "npy": "!!"}
    assert verdicts.judge_record(A, cell, 0, None, record) is not None


def test_errors_and_in_place_changes_are_judged_from_data() -> None:
    (raised,) = _record("test_l1_penalty_errors", _good_l1)
    assert verdicts.judge_record(A, "test_l1_penalty_errors", 0, None, raised) is None
    (silent,) = _record("test_l1_penalty_errors", _bad_l1)
    assert "should raise ValueError naming 'lam', but returned normally" in verdicts.judge_record(A, "test_l1_penalty_errors", 0, None, silent)

    def overwrite(w, lam):
        w *= lam
        return float(np.abs(w).sum())

    (changed,) = _record("test_l1_penalty_no_inplace", overwrite)
    assert "modified its argument 1 in place" in verdicts.judge_record(A, "test_l1_penalty_no_inplace", 0, None, changed)


def test_float32_inputs_get_the_float32_tolerance() -> None:
    assert verdicts.tolerances(np.ones(2, dtype=np.float32), 1.0) == verdicts.TOLERANCES["float32"]
    assert verdicts.tolerances(np.ones(2), 1.0) == verdicts.TOLERANCES["float64"]
    assert verdicts.compare(1.0 + 5e-7, 1.0, "x", rtol=1e-6, atol=0) is None
    assert verdicts.compare(np.zeros(2), np.zeros(3), "v", rtol=1e-6, atol=0) == "v: expected shape (3,), got shape (2,)"


# ---- delegation, decided from the source ---------------------------------------------------------

@pytest.mark.parametrize("source, what", [
    ("from regnorm_lab import l1_penalty", "regnorm_lab.l1_penalty"),
    ("import regnorm_lab as r\ndef l1_penalty(w, lam):\n    return r.l1_penalty(w, lam)", "regnorm_lab.l1_penalty"),
    ("def l1_penalty(w, lam):\n    return __import__('regnorm' + '_lab').l1_penalty(w, lam)", "regnorm_lab"),
    ("exec('def l1_penalty(w, lam): pass')", "exec"),
    ("def l1_penalty(w, lam):\n    return helper(w, lam)", "regnorm_lab"),  # helper in another cell
])
def test_delegation_is_found_in_the_answer_and_the_helpers_it_uses(source: str, what: str) -> None:
    others = ["import regnorm_lab\ndef helper(w, lam):\n    return regnorm_lab.l1_penalty(w, lam)"]
    found = delegation.findings("l1_penalty", {"l1_penalty": source}, others)
    assert found and found[0] == what or what in found, found


def test_honest_answers_and_allowed_routines_are_not_delegation() -> None:
    honest = "import numpy as np\nimport torch\ndef batchnorm_forward(x, *a):\n    return torch.tensor(x).mean(0)"
    assert delegation.findings("batchnorm_forward", {"batchnorm_forward": honest}) == []
    # build_model may use nn.BatchNorm1d; batchnorm_forward may not
    uses_bn = "from torch import nn\ndef f(n):\n    return nn.BatchNorm1d(n)"
    assert delegation.findings("build_model", {"build_model": uses_bn}) == []
    assert delegation.findings("batchnorm_forward", {"batchnorm_forward": uses_bn}) == ["torch.nn.BatchNorm1d"]
    assert delegation.findings("layernorm_forward", {"layernorm_forward": "import torch\nf = getattr(torch, 'layer' + '_norm')"}) == ["torch.layer_norm"]


# moved from the retired in-kernel checks' tests: the same tricks, now read from the source
@pytest.mark.parametrize("function, source", [
    ("l1_penalty", "def l1_penalty(w, lam):\n    import regnorm_lab.penalties as r\n    return r.l1_penalty(w, lam)\n"),
    ("l1_penalty", "import regnorm_lab as _r\ndef l1_penalty(w, lam, _f=_r.l1_penalty):\n    return _f(w, lam)\n"),
    ("l1_penalty", "def _make():\n    from regnorm_lab import l1_penalty as f\n    def inner(w, lam):\n        return f(w, lam)\n    return inner\nl1_penalty = _make()\n"),
    ("l1_penalty", "import importlib\ndef l1_penalty(w, lam):\n    m = importlib.import_module('regnorm' + '_lab')\n    return getattr(m, 'l1_' + 'penalty')(w, lam)\n"),
    ("dropout_forward", "import torch\nimport torch.nn.functional as F\ndef dropout_forward(x, p, training=True, rng=None):\n    t = F.dropout(torch.as_tensor(x), p, training)\n    return t.numpy(), t.numpy() != 0\n"),
    ("z_score", "import importlib\ndef z_score(X_train, X_test):\n    mod = importlib.import_module('sklearn.' + 'preprocessing')\n    s = getattr(mod, 'Standard' + 'Scaler')().fit(X_train)\n    return s.transform(X_train), s.transform(X_test)\n"),
    ("rms_norm", "import torch\ndef rms_norm(x, weight, eps=1e-6):\n    return torch._fused_rms_norm(x, [x.shape[-1]], weight, eps)[0]\n"),
    ("layer_norm", "import torch\ndef layer_norm(x, w, b, eps=1e-5):\n    return torch.native_layer_norm(x, [x.shape[-1]], w, b, eps)[0]\n"),
], ids=["local-import", "default-arg", "closure", "importlib-folded", "framework", "framework-importlib", "private-fused", "native"])
def test_hidden_delegation_tricks_are_read_from_the_source(function: str, source: str) -> None:
    assert delegation.findings(function, {function: source}), source


def test_the_notebooks_machinery_and_rebinding_in_another_cell_count_as_delegation() -> None:
    honest = "import torch\ndef layer_norm(x, w, b, eps=1e-5):\n    var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)\n    return (x - mean) * torch.rsqrt(var + eps) * w + b"
    assert delegation.findings("layer_norm", {"layer_norm": honest}) == []
    transformer = honest + "\nget_ipython().input_transformers_post.append(lambda lines: lines)"
    assert delegation.findings("layer_norm", {"layer_norm": transformer}) == ["get_ipython"]
    assert "the notebook's machinery" in delegation.message("layer_norm", ["get_ipython"])
    via_ipython = honest + "\nfrom IPython import get_ipython as _g\n_g().events.register('pre_run_cell', print)"
    assert "IPython" in delegation.findings("layer_norm", {"layer_norm": via_ipython})
    rebound = ["import torch.nn.functional as F2\nlayer_norm = lambda x, w, b, eps=1e-5: F2.layer_norm(x, (x.shape[-1],), w, b, eps)"]
    assert delegation.findings("layer_norm", {"layer_norm": honest}, rebound) == ["torch.nn.functional.layer_norm"]
    # the setup's imports name the aliases (F), but the setup itself is never followed (it imports the probe)
    setup = ["from regnorm_lab.course import probe\nimport torch.nn.functional as F\nP = probe.session('ps07_gpu_timing')\nDEVICE = 'cpu'"]
    via_setup = "def layer_norm(x, w, b, eps=1e-5):\n    return F.layer_norm(x, (x.shape[-1],), w, b, eps)"
    assert delegation.findings("layer_norm", {"layer_norm": via_setup}, [], setup) == ["torch.nn.functional.layer_norm"]
    uses_device = honest + "\ndef helper(x):\n    return x.to(DEVICE)"
    assert delegation.findings("layer_norm", {"layer_norm": uses_device.replace("return (x", "x = helper(x)\n    return (x")}, [], setup) == []
    # a cell that only uses the function (an experiment) is no rebinding
    assert delegation.findings("layer_norm", {"layer_norm": honest}, ["import torch.nn.functional as F\ny = layer_norm(x, w, b)\nz = F.layer_norm(x, (4,))"]) == []


# ---- ps07: checks on the kernel's device, named parts, the grader's clock ---------------------------

def _ps07_messages(fn, cell: str) -> list[str]:
    out = []
    for index, check in enumerate(cases.load("ps07_gpu_timing")[cell]):
        key = probe.cell_key("s", "ps07_gpu_timing", cell) if check.hidden else None
        inputs = check.make(np.random.default_rng(probe.check_seed("ps07_gpu_timing", cell, index, key)))
        record = json.loads(json.dumps({"cases": [probe.run_case(fn, c, check.runner) for c in inputs]}))
        out.append(verdicts.judge_record("ps07_gpu_timing", cell, index, key, record))
    return [m for m in out if m]


def _ln(x, w, b, eps=1e-5):
    var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
    return (x - mean) * torch.rsqrt(var + eps) * w + b


def test_ps07_checks_name_the_part_that_is_wrong() -> None:
    assert _ps07_messages(_ln, "test_layer_norm_shapes") == []
    assert _ps07_messages(_ln, "test_layer_norm_device") == []

    def matrix_only(x, w, b, eps=1e-5):
        return _ln(x.transpose(-1, 1), w[: x.shape[1]], b[: x.shape[1]], eps).transpose(-1, 1) if x.dim() > 2 else _ln(x, w, b, eps)

    (msg,) = _ps07_messages(matrix_only, "test_layer_norm_shapes")[:1]
    assert "(each row of the LAST dimension is normalised)" in msg

    def on_cpu(x, w, b, eps=1e-5):
        return _ln(x, w, b, eps) + torch.zeros(x.shape[-1])

    (msg,) = _ps07_messages(on_cpu, "test_layer_norm_device")[:1]
    assert msg.startswith("layer_norm failed on tensors of the 'meta' device") and "Create any tensor you need on x.device" in msg


def test_the_speed_precondition_tolerates_a_slightly_wrong_variance_but_not_garbage() -> None:
    def unbiased(x, w, b, eps=1e-5):
        return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps) * w + b

    assert _ps07_messages(unbiased, "test_layer_norm_speed") == []
    (msg,) = _ps07_messages(lambda x, w, b, eps=1e-5: x * w + b, "test_layer_norm_speed")
    assert "before its speed counts" in msg


def test_the_clock_runs_the_setup_and_answer_cells_only_and_words_its_verdict() -> None:
    from regnorm_lab.course import clock

    setup = new_code_cell("import torch")
    setup.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "grade_id": "setup", "schema_version": 3}
    report = new_code_cell("print('report')")
    report.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "grade_id": "timing_report", "schema_version": 3}
    nb = nbformat.v4.new_notebook(cells=[setup, _answer_cell("layer_norm", "def layer_norm(): pass"), new_code_cell("experiment()"),
                                         _test_cell("test_layer_norm_speed", "P.speed(...)", []), report])
    assert clock.student_code(nb) == ["import torch", "def layer_norm(): pass"]
    assert clock.speed_cells("ps07_gpu_timing") == {"test_layer_norm_speed": "layer_norm", "test_rms_norm_speed": "rms_norm"}
    assert clock.speed_cells("ps01_penalties") == {}
    assert clock.sentence("layer_norm", 1.26, "cpu", 3.0) == "layer_norm took 1.3x the reference's time on cpu (limit 3x)"
    assert clock.sentence("rms_norm", 12.0, "cuda", 3.0).endswith("not row by row in Python")


def test_a_proof_of_the_timed_calls_must_match_the_graders_rows() -> None:
    from regnorm_lab.course import clock

    rows = [np.full((2, 4), 0.5), np.full((2, 4), -1.0)]
    good = json.dumps({"n": 5, "types": ["torch.Tensor"] * 5, "shapes": [[8, 4]] * 5, "rows": [r.tolist() for r in rows]})
    assert clock._check_proof("noise\n" + good, 5, (8, 4), rows) is None
    assert "plain tensors" in clock._check_proof(good.replace('"torch.Tensor"', '"__main__.Lazy"', 1), 5, (8, 4), rows)
    assert "not those of their inputs" in clock._check_proof(good, 5, (8, 4), [rows[0], rows[0]])
    assert clock._check_proof(good, 5, (8, 4), [rows[0] * 1.002, rows[1]]) is None  # a slightly wrong variance is not this cell's business
    assert "instead of 6" in clock._check_proof(good, 6, (8, 4), rows)
    assert clock._check_proof("layer_norm took 1.0x", 5, (8, 4), rows) == "the timed calls left no readable results"


# ---- the pipeline steps ------------------------------------------------------------------------

def _test_cell(grade_id: str, source: str, outputs: list) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 2.0, "grade_id": grade_id, "schema_version": 3}
    cell.outputs = outputs
    return cell


def _answer_cell(name: str, source: str) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": name, "schema_version": 3}
    return cell


def _display(record: dict) -> nbformat.NotebookNode:
    return new_output("display_data", data={probe.MIME: record, "text/plain": "record"})


def _judged(cells: list, secret: str = "s") -> list:
    nb = nbformat.v4.new_notebook(cells=cells)
    cfg = Config()
    cfg.Judge.secret = secret
    judge.Judge(config=cfg).preprocess(nb, {"nbgrader": {"assignment": A, "student": "x"}})
    return [utils.determine_grade(c) for c in nb.cells if utils.is_grade(c)], nb


def test_the_judge_scores_records_not_what_the_kernel_printed_or_raised() -> None:
    cell = "test_l1_penalty_forward"
    key = probe.cell_key("s", A, cell)
    good = _record(cell, _good_l1) + _record(cell, _good_l1, hidden=True, key=key)
    printed = new_output("stream", name="stdout", text="All tests passed!\n")
    error = new_output("error", ename="CheckFailed", evalue="from the kernel", traceback=["x"])
    answer = _answer_cell("l1_penalty", "def l1_penalty(w, lam):\n    return 0.0")
    grades, nb = _judged([answer, _test_cell(cell, "P.run(...)", [_display(r) for r in good] + [error])])
    assert grades == [(2.0, 2.0)]  # the kernel's error does not decide: the records are right
    grades, nb = _judged([answer, _test_cell(cell, "P.run(...)", [printed])])
    assert grades == [(0, 2.0)]  # no record: no points, whatever was printed
    (err,) = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert err.ename == "Test failed" and len(err.traceback) == 1 and "no result was recorded" in err.evalue
    # a duplicate that is wrong spoils the right one
    bad = _record(cell, _bad_l1)
    grades, nb = _judged([answer, _test_cell(cell, "P.run(...)", [_display(r) for r in good + bad])])
    assert grades == [(0, 2.0)]
    # the hidden part failed: the feedback says hidden, and only then
    wrong_hidden = _record(cell, _good_l1) + _record(cell, _bad_l1, hidden=True, key=key)
    grades, nb = _judged([answer, _test_cell(cell, "P.run(...)", [_display(r) for r in wrong_hidden])])
    assert grades == [(0, 2.0)] and nb.cells[1].outputs[-1].ename == "Hidden test failed"


def test_a_delegating_answer_fails_its_cells_with_the_reason() -> None:
    cell = "test_l1_penalty_forward"
    key = probe.cell_key("s", A, cell)
    good = _record(cell, _good_l1) + _record(cell, _good_l1, hidden=True, key=key)
    answer = _answer_cell("l1_penalty", "from regnorm_lab import l1_penalty")
    grades, nb = _judged([answer, _test_cell(cell, "P.run(...)", [_display(r) for r in good])])
    assert grades == [(0, 2.0)]
    assert nb.cells[1].outputs[-1].evalue.startswith("l1_penalty calls regnorm_lab.l1_penalty: write it yourself")


def test_seeds_go_in_before_execution_and_come_out_after() -> None:
    source = "# Test: x\nP.run('test_l1_penalty_forward', l1_penalty)\n### BEGIN HIDDEN TESTS\nP.run('test_l1_penalty_forward', l1_penalty, hidden=True)\n### END HIDDEN TESTS"
    nb = nbformat.v4.new_notebook(cells=[_test_cell("test_l1_penalty_forward", source, [])])
    cfg = Config()
    cfg.Judge.secret = "course-secret"
    judge.JudgeSeeds(config=cfg).preprocess(nb, {"nbgrader": {"assignment": A}})
    key = probe.cell_key("course-secret", A, "test_l1_penalty_forward")
    assert f'hidden="{key}")' in nb.cells[0].source and "P.run('test_l1_penalty_forward', l1_penalty)\n" in nb.cells[0].source
    judge.Judge(config=cfg).preprocess(nb, {"nbgrader": {"assignment": A}})
    assert nb.cells[0].source == source  # the stored notebook keeps no key


def test_install_puts_the_steps_around_execution_once() -> None:
    cfg = Config()
    cfg.Autograde.autograde_preprocessors = ["nbgrader.preprocessors.Execute", "nbgrader.preprocessors.LimitOutput", "nbgrader.preprocessors.SaveAutoGrades"]
    judge.install(judge.install(cfg))
    steps = list(cfg.Autograde.autograde_preprocessors)
    assert steps == [
        "regnorm_lab.course.judge.JudgeSeeds", "nbgrader.preprocessors.Execute", "nbgrader.preprocessors.LimitOutput",
        "regnorm_lab.course.judge.Judge", "nbgrader.preprocessors.SaveAutoGrades",
    ]


def test_every_converted_assignment_has_checks_for_exactly_its_test_cells() -> None:
    from . import harness as H

    for assignment in ("ps01_penalties", "ps02_dropout", "ps03_feature_scaling", "ps04_batch_norm", "ps05_layer_instance_norm", "ps06_combining", "ps07_gpu_timing"):
        assert cases.converted(assignment)
        checks = cases.load(assignment)
        assert set(checks) == set(H.test_cells_of(H.EXERCISES, assignment)), assignment
        for cell, cell_checks in checks.items():
            assert cell_checks and {c.function for c in cell_checks} == {H.test_cells_of(H.EXERCISES, assignment)[cell]}


def test_a_students_own_speed_check_words_its_ratio_as_the_grader_does() -> None:
    # P.speed in a student's notebook (reference installed): the same sentence as the grader's, on this device
    import torch

    from regnorm_lab.course import clock

    def vectorised(x, weight, eps=1e-6):
        return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps) * weight

    def row_loop(x, weight, eps=1e-6):  # a per-row Python loop: ~10-40x the reference, far past the 3x limit
        return torch.stack([r * torch.rsqrt((r * r).mean() + eps) * weight for r in x])

    message, passed = clock.local_ratio("ps07_gpu_timing", "test_rms_norm_speed", vectorised)
    assert passed and message.startswith("rms_norm took ") and message.endswith("on the CPU (limit 3x)"), message
    message, passed = clock.local_ratio("ps07_gpu_timing", "test_rms_norm_speed", row_loop)
    assert not passed and message.endswith(clock.ADVICE), message
