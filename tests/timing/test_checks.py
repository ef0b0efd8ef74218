"""Tests for regnorm_lab.timing._checks: each bad argument raises a ValueError that names it."""

from __future__ import annotations

import pytest
import torch

from regnorm_lab.timing import _checks as c


def test_good_arguments_come_back_normalised():
    assert c.check_device("device", "cpu") == torch.device("cpu")
    assert c.check_shape("shape", torch.Size([2, 3])) == (2, 3)
    assert c.check_shapes("shapes", (4, 16)) == [(4, 16)]
    assert c.check_shapes("shapes", [(4, 16), [2, 3, 4]]) == [(4, 16), (2, 3, 4)]
    assert c.check_dtype("dtype", "bfloat16") is torch.bfloat16
    assert c.check_dtypes("dtypes", torch.float64) == [torch.float64]
    assert c.check_positive_float("t", "0.5") == 0.5
    assert c.check_positive_int("rounds", 3) == 3
    assert c.dtype_name(torch.float16) == "float16"
    fns = {"layer_norm": abs}
    checked = c.check_op_map("impls", fns, ["layer_norm"])
    assert checked == fns and checked is not fns


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: c.check_device("where", "meta"), "where"),
        (lambda: c.check_device("where", 3.5), "where"),
        (lambda: c.check_shape("size", (2, True)), "size"),
        (lambda: c.check_shapes("sizes", "4x4"), "sizes"),
        (lambda: c.check_dtype("kind", torch.int32), "kind"),
        (lambda: c.check_dtypes("kinds", []), "kinds"),
        (lambda: c.check_op_map("impls", [abs], ["layer_norm"]), "impls"),
        (lambda: c.check_positive_float("budget", float("inf")), "budget"),
        (lambda: c.check_positive_float("budget", None), "budget"),
        (lambda: c.check_positive_int("rounds", True), "rounds"),
        (lambda: c.check_positive_int("warmup", 0, " (the first call is never timed)"), "never timed"),
    ],
)
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()
