"""Checks shared by the normalisation tests (batch, layer/instance/group and RMS norm).

Imported as ``from _norm_helpers import ...``: pytest puts ``tests/`` on
``sys.path`` for the test modules there (no ``__init__.py``), and does not
collect this file (its name does not start with ``test_``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from regnorm_lab.gradcheck import numerical_gradient_array, rel_error


def norm_property(**strategies: st.SearchStrategy) -> object:
    """``@settings(max_examples=40, deadline=None)`` and ``@given(seed=<any uint32>, **strategies)``.

    The property tests draw their data from ``numpy.random.default_rng(seed)``,
    so hypothesis shrinks the seed and the sizes, never global random state.
    """

    def decorate(test):
        return settings(max_examples=40, deadline=None)(given(seed=st.integers(0, 2**32 - 1), **strategies)(test))

    return decorate


def assert_grads_match_autograd(
    torch_forward: Callable[..., torch.Tensor],
    args: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    dout: np.ndarray,
) -> torch.Tensor:
    """Each analytic gradient against torch autograd of ``torch_forward`` on float64 copies of ``args``.

    ``grads[i]`` is the gradient w.r.t. ``args[i]`` for the upstream gradient
    ``dout``. The input's (``grads[0]``) must agree to ``rtol=1e-8, atol=1e-10``,
    the parameters' to ``rtol=1e-10, atol=1e-12``. Returns torch's output
    (detached), for the caller to compare with its forward pass.
    """
    leaves = [torch.tensor(a, requires_grad=True) for a in args]
    y = torch_forward(*leaves)
    y.backward(torch.from_numpy(dout))
    for i, (grad, leaf) in enumerate(zip(grads, leaves, strict=True)):
        tol = dict(rtol=1e-8, atol=1e-10) if i == 0 else dict(rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(grad, leaf.grad.numpy(), **tol, err_msg=f"gradient of argument {i}")
    return y.detach()


def assert_grads_match_numerical(
    forward: Callable[..., np.ndarray],
    args: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    dout: np.ndarray,
    max_rel_errors: Sequence[float],
) -> None:
    """Each analytic gradient against central differences of ``forward(*args)`` along ``dout``.

    ``grads[i]`` is the gradient of ``sum(forward(*args) * dout)`` w.r.t.
    ``args[i]``; its :func:`rel_error` to the numerical one must stay below
    ``max_rel_errors[i]``.
    """
    for i, (grad, bound) in enumerate(zip(grads, max_rel_errors, strict=True)):

        def vary_one(v: np.ndarray, i: int = i) -> np.ndarray:
            return forward(*args[:i], v, *args[i + 1 :])

        err = rel_error(grad, numerical_gradient_array(vary_one, args[i], dout))
        assert err < bound, f"argument {i}: relative error {err:.3g} is not below {bound:g}"


def load_random_parameters(ours: torch.nn.Module, ref: torch.nn.Module, generator: torch.Generator) -> None:
    """Fill ``ref``'s parameters with N(0, 1) draws from ``generator`` (in order) and load its state into ``ours``.

    Also checks that both modules list the same state_dict keys in the same order.
    """
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
    ours.load_state_dict(ref.state_dict())
    assert list(ours.state_dict()) == list(ref.state_dict())


def assert_forward_backward_match(
    ours: torch.nn.Module, ref: torch.nn.Module, x: torch.Tensor, dout: torch.Tensor
) -> None:
    """Run both modules on separate copies of float64 ``x``, backpropagate ``dout``, and compare.

    Outputs must agree to ``rtol=1e-10, atol=1e-12``, gradients w.r.t. ``x`` to
    ``rtol=1e-8, atol=1e-10``. Parameter gradients accumulate in the modules;
    compare them with :func:`assert_parameter_grads_match`.
    """
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = ours(x1), ref(x2)
    torch.testing.assert_close(y1, y2, rtol=1e-10, atol=1e-12)
    y1.backward(dout)
    y2.backward(dout)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-8, atol=1e-10)


def assert_parameter_grads_match(ours: torch.nn.Module, ref: torch.nn.Module) -> None:
    """The two modules have parameters of the same names, whose gradients agree to ``rtol=1e-10, atol=1e-12``."""
    mine, theirs = dict(ours.named_parameters()), dict(ref.named_parameters())
    assert list(mine) == list(theirs)
    for name, p in theirs.items():
        torch.testing.assert_close(mine[name].grad, p.grad, rtol=1e-10, atol=1e-12)


def check_module_against_torch(
    ours: torch.nn.Module, ref: torch.nn.Module, shape: tuple[int, ...], generator: torch.Generator
) -> None:
    """One forward and backward pass of a float64 norm module against torch's.

    Random parameters (:func:`load_random_parameters`), then ``x ~ 2 N(0, 1) + 1``
    and ``dout ~ N(0, 1)`` of ``shape`` from ``generator``; outputs, input and
    parameter gradients must match.
    """
    load_random_parameters(ours, ref, generator)
    x = torch.randn(shape, generator=generator, dtype=torch.float64) * 2 + 1
    dout = torch.randn(shape, generator=generator, dtype=torch.float64)
    assert_forward_backward_match(ours, ref, x, dout)
    assert_parameter_grads_match(ours, ref)
