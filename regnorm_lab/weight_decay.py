"""L2 in the loss versus decoupled weight decay, one optimizer step at a time (numpy).

Two ways to shrink weights towards 0 during training:

* **L2 in the loss** adds ``lam * ||w||**2`` (Keras convention, as
  :func:`regnorm_lab.penalties.l2_penalty`) to the loss, so its gradient
  ``2 * lam * w`` is added to the data gradient *before* the optimizer sees it.
  torch's ``Adam(weight_decay=wd)`` and ``SGD(weight_decay=wd)`` do exactly
  this with ``wd * w``, i.e. **``wd = 2 * lam``** (a loss penalty ``(wd / 2) * ||w||**2``).
* **Decoupled weight decay** (Loshchilov & Hutter, AdamW) leaves the gradient
  alone and shrinks the weights directly, ``w <- w - lr * wd * w``, next to the
  optimizer's own update. This is torch's ``AdamW(weight_decay=wd)``.

For plain SGD the two are the same update (:func:`sgd_l2_step` with ``lam``
equals :func:`sgd_weight_decay_step` with ``weight_decay = 2 * lam``). Under
Adam they are not: Adam divides the whole gradient, penalty term included, by
the per-coordinate root-mean-square of past gradients ``sqrt(v_hat)``. With L2
in the loss the decay of a coordinate is therefore ``~ 2 * lam * w / sqrt(v_hat)``:
weights whose data gradients are large (large ``v_hat``) are decayed *less*,
and weights with tiny gradients are decayed *more*, than the penalty asks for.
Decoupled decay shrinks every weight by the same factor ``1 - lr * wd`` per
step, whatever its gradient history.

All functions take and return new arrays and never modify their inputs; the
Adam state is an immutable :class:`AdamState` that each step returns anew.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ._validation import check_nonnegative

__all__ = [
    "AdamState",
    "adam_init",
    "adam_direction",
    "adam_l2_step",
    "adamw_step",
    "sgd_l2_step",
    "sgd_weight_decay_step",
    "adam_trajectory",
]


def adam_direction(
    grad: np.ndarray, state: AdamState, beta1: float, beta2: float, eps: float
) -> tuple[np.ndarray, AdamState]:
    """Adam's step direction ``m_hat / (sqrt(v_hat) + eps)`` for ``grad``, and the new state.

    Shape:
        grad, the direction and the state's moments: the shape of the weights.
    """
    step = state.step + 1
    m = beta1 * state.exp_avg + (1.0 - beta1) * grad
    v = beta2 * state.exp_avg_sq + (1.0 - beta2) * grad * grad
    # Bias corrections: m and v start at 0, so early averages are too small by these factors.
    m_hat = m / (1.0 - beta1**step)
    v_hat = v / (1.0 - beta2**step)
    return m_hat / (np.sqrt(v_hat) + eps), AdamState(step, m, v)


class AdamState(NamedTuple):
    """Adam's running statistics, named as in ``torch.optim.Adam``'s state.

    Attributes:
        step: Number of steps taken so far (0 before the first).
        exp_avg: First-moment estimate ``m`` (exponential average of gradients).
        exp_avg_sq: Second-moment estimate ``v`` (exponential average of squared gradients).

    Shape:
        exp_avg, exp_avg_sq: the shape of the weights.
    """

    step: int
    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray


def adam_init(w: np.ndarray) -> AdamState:
    """The state before the first Adam step: zero moments, step 0.

    Shape:
        w: any shape; the moments have the same shape (float64).
    """
    w = np.asarray(w, dtype=np.float64)
    return AdamState(0, np.zeros_like(w), np.zeros_like(w))


# --------------------------------------------------------------------------- the checked steps


def _check_common(w: np.ndarray, grad: np.ndarray, lr: float) -> tuple[np.ndarray, np.ndarray, float]:
    w = np.asarray(w, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    if grad.shape != w.shape:
        raise ValueError(f"grad must have the shape of w {w.shape}, got {grad.shape}")
    return w, grad, check_nonnegative("lr", lr)


def _checked_adam_direction(
    grad: np.ndarray, state: AdamState | None, betas: tuple[float, float], eps: float
) -> tuple[np.ndarray, AdamState]:
    """:func:`adam_direction` after checking ``betas``, ``eps`` and the state's shape (None: a fresh state)."""
    beta1, beta2 = (float(b) for b in betas)
    for name, b in (("betas[0]", beta1), ("betas[1]", beta2)):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {b!r}")
    eps = check_nonnegative("eps", eps)
    if state is None:
        state = adam_init(grad)
    if np.shape(state.exp_avg) != grad.shape or np.shape(state.exp_avg_sq) != grad.shape:
        raise ValueError(f"state moments must have the shape of w {grad.shape}")
    return adam_direction(grad, state, beta1, beta2, eps)


def adam_l2_step(
    w: np.ndarray,
    grad: np.ndarray,
    state: AdamState | None,
    lr: float,
    lam: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> tuple[np.ndarray, AdamState]:
    """One Adam step on ``loss + lam * ||w||**2``: the penalty's gradient goes through Adam.

    The total gradient ``grad + 2 * lam * w`` feeds both moment estimates and is
    divided by ``sqrt(v_hat)``; so the shrinkage of a weight depends on its own
    gradient history (large-gradient weights are decayed less). Equals
    ``torch.optim.Adam(params, lr, betas, eps, weight_decay=2 * lam)``.

    Args:
        w: Current weights.
        grad: Gradient of the data loss (without the penalty) at ``w``.
        state: Adam state from the previous step, or None before the first.
        lr: Learning rate, ``>= 0``.
        lam: L2 strength in the Keras convention (penalty ``lam * sum w**2``), ``>= 0``.
        betas: Decay rates of the first- and second-moment averages, each in ``[0, 1)``.
        eps: Added to ``sqrt(v_hat)`` for numerical safety, ``>= 0``.

    Returns:
        ``(new_w, new_state)``.

    Shape:
        w, grad: the same shape; new_w and the state moments: that shape.

    Raises:
        ValueError: naming ``lr``, ``lam``, ``eps``, ``betas[i]``, ``grad`` or
            ``state`` when out of range or of the wrong shape.
    """
    w, grad, lr = _check_common(w, grad, lr)
    lam = check_nonnegative("lam", lam)
    direction, new_state = _checked_adam_direction(grad + 2.0 * lam * w, state, betas, eps)
    return w - lr * direction, new_state


def adamw_step(
    w: np.ndarray,
    grad: np.ndarray,
    state: AdamState | None,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> tuple[np.ndarray, AdamState]:
    """One AdamW step: Adam on the data gradient, plus a separate decay ``w <- w - lr * weight_decay * w``.

    The decay never enters Adam's moments, so every weight shrinks by the same
    factor ``1 - lr * weight_decay`` per step. Equals
    ``torch.optim.AdamW(params, lr, betas, eps, weight_decay=weight_decay)``.

    Args:
        w: Current weights.
        grad: Gradient of the data loss at ``w``.
        state: Adam state from the previous step, or None before the first.
        lr: Learning rate, ``>= 0``.
        weight_decay: Decoupled decay rate (torch's name and meaning), ``>= 0``.
        betas: Decay rates of the first- and second-moment averages, each in ``[0, 1)``.
        eps: Added to ``sqrt(v_hat)`` for numerical safety, ``>= 0``.

    Returns:
        ``(new_w, new_state)``.

    Shape:
        w, grad: the same shape; new_w and the state moments: that shape.

    Raises:
        ValueError: naming ``lr``, ``weight_decay``, ``eps``, ``betas[i]``,
            ``grad`` or ``state`` when out of range or of the wrong shape.
    """
    w, grad, lr = _check_common(w, grad, lr)
    weight_decay = check_nonnegative("weight_decay", weight_decay)
    direction, new_state = _checked_adam_direction(grad, state, betas, eps)
    # torch applies the decay first (w *= 1 - lr * wd), then the Adam step; the
    # direction does not depend on w, so this is the same as w - lr*wd*w - lr*direction.
    return w * (1.0 - lr * weight_decay) - lr * direction, new_state


def sgd_l2_step(w: np.ndarray, grad: np.ndarray, lr: float, lam: float) -> np.ndarray:
    """One SGD step on ``loss + lam * ||w||**2``: ``w - lr * (grad + 2 * lam * w)``.

    Equals ``torch.optim.SGD(params, lr, weight_decay=2 * lam)`` and
    :func:`sgd_weight_decay_step` with ``weight_decay = 2 * lam``: without an
    adaptive preconditioner, L2 in the loss *is* weight decay.

    Args:
        w: Current weights.
        grad: Gradient of the data loss at ``w``.
        lr: Learning rate, ``>= 0``.
        lam: L2 strength in the Keras convention, ``>= 0``.

    Returns:
        The new weights.

    Shape:
        w, grad: the same shape; returns that shape.

    Raises:
        ValueError: naming ``lr``, ``lam`` or ``grad``.
    """
    w, grad, lr = _check_common(w, grad, lr)
    lam = check_nonnegative("lam", lam)
    return w - lr * (grad + 2.0 * lam * w)


def sgd_weight_decay_step(w: np.ndarray, grad: np.ndarray, lr: float, weight_decay: float) -> np.ndarray:
    """One SGD step with decoupled decay: ``w * (1 - lr * weight_decay) - lr * grad``.

    Args:
        w: Current weights.
        grad: Gradient of the data loss at ``w``.
        lr: Learning rate, ``>= 0``.
        weight_decay: Decay rate (torch's meaning), ``>= 0``.

    Returns:
        The new weights.

    Shape:
        w, grad: the same shape; returns that shape.

    Raises:
        ValueError: naming ``lr``, ``weight_decay`` or ``grad``.
    """
    w, grad, lr = _check_common(w, grad, lr)
    weight_decay = check_nonnegative("weight_decay", weight_decay)
    return w * (1.0 - lr * weight_decay) - lr * grad


AdamStep = Callable[..., tuple[np.ndarray, AdamState]]


def adam_trajectory(
    step: AdamStep,
    w0: np.ndarray,
    grad_fn: Callable[[np.ndarray, int], np.ndarray],
    n_steps: int,
    **hyper: float,
) -> np.ndarray:
    """Run ``n_steps`` of :func:`adam_l2_step` or :func:`adamw_step` and record the weights.

    For the book's experiments: e.g. ``adam_trajectory(adamw_step, w0, grad_fn,
    200, lr=1e-2, weight_decay=1e-1)``.

    Args:
        step: :func:`adam_l2_step` or :func:`adamw_step`.
        w0: Initial weights; not modified.
        grad_fn: ``grad_fn(w, t)`` returns the data-loss gradient at ``w`` at step
            ``t`` (0-based); draw any noise from a generator it closes over.
        n_steps: Number of steps, ``>= 0``.
        **hyper: Keyword arguments passed on to ``step`` (``lr``, ``lam`` or
            ``weight_decay``, ``betas``, ``eps``).

    Returns:
        The weights before the first step and after each step.

    Shape:
        w0: any shape ``S``; returns ``(n_steps + 1, *S)``.

    Raises:
        ValueError: if ``n_steps`` is negative (and whatever ``step`` raises).
    """
    if int(n_steps) != n_steps or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}")
    w = np.array(w0, dtype=np.float64)  # a copy: the caller's array stays untouched
    state: AdamState | None = None
    path = [w]
    for t in range(int(n_steps)):
        w, state = step(w, grad_fn(w, t), state, **hyper)
        path.append(w)
    return np.stack(path)
