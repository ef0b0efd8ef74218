"""Unit tests of regnorm_lab.grading (the helpers nbgrader test cells call); fast, no kernels."""

from __future__ import annotations

import functools
import importlib
import math
import warnings

import numpy as np
import pytest
import torch

import regnorm_lab
import regnorm_lab.course.grading as G


# ---- check_close -------------------------------------------------------------------------

def test_check_close_accepts_within_contract_tolerance_and_rejects_outside() -> None:
    G.check_close(1.0 + 5e-7, 1.0, "x")  # rtol 1e-6 for float64
    with pytest.raises(G.CheckFailed, match="x: expected 1, got 1.00001"):
        G.check_close(1.00001, 1.0, "x")
    # float32 gets the looser contract tolerance
    G.check_close(np.float32(1.00005), np.float32(1.0), "f32")
    with pytest.raises(AssertionError):
        G.check_close(np.float64(1.00005), 1.0, "f64")


def test_check_close_reports_shape_none_and_first_bad_index() -> None:
    with pytest.raises(G.CheckFailed, match=r"expected shape \(3,\), got shape \(2,\)"):
        G.check_close(np.zeros(2), np.zeros(3), "v")
    with pytest.raises(G.CheckFailed, match="is None"):
        G.check_close(None, np.zeros(3), "v")
    with pytest.raises(G.CheckFailed, match=r"1 of 4 values differ .*index \(1, 0\)"):
        G.check_close(np.array([[0.0, 0.0], [1.0, 0.0]]), np.zeros((2, 2)), "m")


def test_check_close_nan_only_matches_nan() -> None:
    G.check_close(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), "nan")
    with pytest.raises(G.CheckFailed):
        G.check_close(np.array([np.nan, 1.0]), np.array([0.0, 1.0]), "nan")


def test_check_close_accepts_torch_tensors() -> None:
    G.check_close(torch.tensor([1.0, 2.0]), np.array([1.0, 2.0]), "t")
    with pytest.raises(G.CheckFailed):
        G.check_close(torch.tensor([1.0, 2.5]), np.array([1.0, 2.0]), "t")


def test_redefining_numpy_and_math_closeness_cannot_make_a_wrong_answer_pass(monkeypatch) -> None:
    """What an answer cell can do: rebind np.allclose, np.isclose, np.testing, math.isclose, np.abs."""
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "isclose", lambda *a, **k: np.ones(np.shape(a[0]), dtype=bool))
    monkeypatch.setattr(np.testing, "assert_allclose", lambda *a, **k: None)
    monkeypatch.setattr(math, "isclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "abs", lambda x: np.zeros_like(x))
    monkeypatch.setattr(np, "all", lambda *a, **k: True)
    with pytest.raises(G.CheckFailed):
        G.check_close(np.array([1.0, 2.0]), np.array([1.0, 3.0]), "tampered")
    with pytest.raises(G.CheckFailed):
        G.check_close(2.0, 3.0, "tampered scalar")


# ---- simple checks ------------------------------------------------------------------------

def test_check_float_shape_true() -> None:
    G.check_float(1.5, "v")
    G.check_float(np.float64(1.5), "v")  # a float subclass: accepted
    with pytest.raises(G.CheckFailed, match="Python float, got a ndarray"):
        G.check_float(np.array(1.5), "v")
    G.check_shape(np.zeros((2, 3)), (2, 3), "s")
    with pytest.raises(G.CheckFailed, match=r"expected shape \(3, 2\)"):
        G.check_shape(np.zeros((2, 3)), (3, 2), "s")
    with pytest.raises(G.CheckFailed, match="the message"):
        G.check_true(False, "the message")


def test_assert_raises_value_error_requires_the_argument_name() -> None:
    def good(lam):
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")

    def vague(lam):
        raise ValueError("bad value")

    def wrong_type(lam):
        raise TypeError("lam")

    G.assert_raises_value_error(good, -1, arg="lam", what="good")
    with pytest.raises(G.CheckFailed, match="should name the argument 'lam'"):
        G.assert_raises_value_error(vague, -1, arg="lam", what="vague")
    with pytest.raises(G.CheckFailed, match="raised TypeError"):
        G.assert_raises_value_error(wrong_type, -1, arg="lam", what="wrong_type")
    with pytest.raises(G.CheckFailed, match="returned normally"):
        G.assert_raises_value_error(lambda lam: None, -1, arg="lam", what="silent")


def test_assert_no_inplace_detects_modification_of_any_array_argument() -> None:
    def pure(w, lam):
        return np.abs(w) * lam

    def dirty(w, lam):
        w *= lam

    G.assert_no_inplace(pure, np.array([1.0, -2.0]), 3.0, what="pure")
    with pytest.raises(G.CheckFailed, match="modified its argument 1 in place"):
        G.assert_no_inplace(dirty, np.array([1.0, -2.0]), 3.0, what="dirty")
    with pytest.raises(G.CheckFailed, match="argument 'x'"):
        G.assert_no_inplace(lambda x: x.fill_(0.0), x=torch.ones(3), what="torch")


def test_check_binomial_count_bounds() -> None:
    G.check_binomial_count(5000, 10000, 0.5, "fair")
    G.check_binomial_count(4800, 10000, 0.5, "4 sigmas off is still plausible")
    with pytest.raises(G.CheckFailed, match="about 5000"):
        G.check_binomial_count(4500, 10000, 0.5, "10 sigmas off")


# ---- delegation detection -----------------------------------------------------------------

def _own_l1(w, lam):
    if lam < 0:
        raise ValueError("lam")
    return float(lam * np.sum(np.abs(w)))


def test_an_honest_function_passes_the_delegation_check() -> None:
    G.assert_own_work(_own_l1, "l1_penalty")


def test_reference_itself_is_detected() -> None:
    with pytest.raises(G.CheckFailed, match="l1_penalty calls regnorm_lab.l1_penalty: write it yourself"):
        G.assert_own_work(regnorm_lab.l1_penalty, "l1_penalty")


def _ns() -> dict:
    return {"np": np, "__name__": "__main__"}


def _define(src: str, name: str):
    ns = _ns()
    exec(src, ns)  # noqa: S102 - the point is to mimic an answer cell
    return ns[name]


@pytest.mark.parametrize(
    "src",
    [
        "import regnorm_lab\ndef l1_penalty(w, lam):\n    return regnorm_lab.l1_penalty(w, lam)\n",
        "def l1_penalty(w, lam):\n    import regnorm_lab.penalties as r\n    return r.l1_penalty(w, lam)\n",
        "from regnorm_lab import l1_penalty as _ref\ndef l1_penalty(w, lam):\n    return _ref(w, lam)\n",
        "import regnorm_lab as _r\ndef l1_penalty(w, lam, _f=_r.l1_penalty):\n    return _f(w, lam)\n",
        "def _helper(w, lam):\n    from regnorm_lab import penalties\n    return penalties.l1_penalty(w, lam)\ndef l1_penalty(w, lam):\n    return _helper(w, lam)\n",
        "def _make():\n    from regnorm_lab import l1_penalty as f\n    def inner(w, lam):\n        return f(w, lam)\n    return inner\nl1_penalty = _make()\n",
        "import regnorm_lab.grading as G2\ndef l1_penalty(w, lam):\n    return G2.reference('l1_penalty')(w, lam)\n",
    ],
    ids=["module", "local-import", "alias", "default-arg", "helper", "closure", "via-grading"],
)
def test_static_delegation_tricks_are_detected(src: str) -> None:
    func = _define(src, "l1_penalty")
    with pytest.raises(G.CheckFailed, match=r"l1_penalty calls regnorm_lab.*write it yourself"):
        G.assert_own_work(func, "l1_penalty")


def test_dynamic_delegation_is_detected_when_names_are_hidden() -> None:
    src = (
        "import importlib\n"
        "def l1_penalty(w, lam):\n"
        "    m = importlib.import_module('regnorm' + '_lab')\n"
        "    return getattr(m, 'l1_' + 'penalty')(w, lam)\n"
    )
    ns = _ns()
    exec(src, ns)  # noqa: S102
    with pytest.raises(G.CheckFailed, match="l1_penalty calls regnorm_lab"):
        G.assert_own_work(ns["l1_penalty"], "l1_penalty")
    # partial objects too
    with pytest.raises(G.CheckFailed):
        G.assert_own_work(functools.partial(regnorm_lab.l1_penalty), "l1_penalty")


def test_framework_routines_are_detected_statically_and_dynamically() -> None:
    static = _define(
        "import torch\nimport torch.nn.functional as F\n"
        "def dropout_forward(x, p, training=True, rng=None):\n"
        "    t = F.dropout(torch.as_tensor(x), p, training)\n"
        "    return t.numpy(), t.numpy() != 0\n",
        "dropout_forward",
    )
    with pytest.raises(G.CheckFailed, match="dropout_forward calls torch.nn.functional.dropout"):
        G.assert_own_work(static, "dropout_forward")
    dynamic = _define(
        "import importlib\n"
        "def z_score(X_train, X_test):\n"
        "    mod = importlib.import_module('sklearn.' + 'preprocessing')\n"
        "    s = getattr(mod, 'Standard' + 'Scaler')().fit(X_train)\n"
        "    return s.transform(X_train), s.transform(X_test)\n",
        "z_score",
    )
    with pytest.raises(G.CheckFailed, match="z_score calls sklearn.preprocessing"):
        G.assert_own_work(dynamic, "z_score")


def test_the_delegation_check_restores_what_it_wraps() -> None:
    before = torch.nn.functional.dropout
    fn = _define("def dropout_forward(x, p, training=True, rng=None):\n    raise RuntimeError('crash')\n", "dropout_forward")
    G.assert_own_work(fn, "dropout_forward")  # a crash is not delegation (the behaviour checks report it)
    assert torch.nn.functional.dropout is before
    import sys

    assert sys.getprofile() is None


def test_forbidden_for_lists_reference_and_framework_routines() -> None:
    f = G.forbidden_for("dropout_forward")
    assert f["regnorm_lab.dropout_forward"] is regnorm_lab.dropout_forward
    assert f["torch.nn.functional.dropout"] is torch.nn.functional.dropout
    assert f["regnorm_lab"] is importlib.import_module("regnorm_lab")
    assert "sklearn.preprocessing" in G.forbidden_for("min_max_scale")


def test_rms_norm_may_not_call_torchs_private_fused_kernel() -> None:
    fn = _define(
        "import torch\n"
        "def rms_norm(x, weight, eps=1e-6):\n"
        "    return torch._fused_rms_norm(x, [x.shape[-1]], weight, eps)[0]\n",
        "rms_norm",
    )
    with pytest.raises(G.CheckFailed, match="rms_norm calls torch._fused_rms_norm"):
        G.assert_own_work(fn, "rms_norm")


def test_grading_module_emits_no_warnings_on_import() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(G)
