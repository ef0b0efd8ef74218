"""K seed-003 MLPs stacked along a model axis: forward, hand-written backward and fused Adam (the batched trainer's kernel).

The model is ``[BatchNorm1d] -> Linear -> ReLU -> [Dropout] -> Linear -> ReLU
-> [Dropout] -> Linear`` (:func:`regnorm_lab.combining.build_model`). With K
copies stacked, every layer is one batched matmul, and autograd would add a
graph, ~40 backward nodes and fresh 2 MB tensors per step; here the backward
pass is written out (it is short) into preallocated buffers, which is what
lets the batched trainer run near the speed of its matmuls.
``tests/studies/test_batched.py`` checks :func:`loss_grads` against autograd.

Per-model switches are tensors over the model axis, so one call serves models
with and without BatchNorm, dropout and penalties:

- **BatchNorm off**: its batch mean is replaced by 0, its ``1/std`` by 1, its
  weight by 1 and its bias by 0, which passes ``x`` through exactly (``(x - 0)
  * 1 * 1 + 0 == x``); its BatchNorm parameters get zero gradients, which Adam
  turns into zero updates.
- **dropout**: the models with dropout come first (``[0, n_drop)``); their
  masks (``1 / keep`` or 0) are multiplied into the hidden activations.
- **penalties**: per-model coefficients, zero where a model has none.

Gradient algebra (per model; ``x̂`` the normalised input, ``γ, β`` the
BatchNorm weight and bias, ``x_in = γ x̂ + β`` the first layer's input): the
first layer's weight gradient is ``dW1ᵀ = x_inᵀ dz1 = γ ⊙ (x̂ᵀ dz1) + β db1ᵀ``
and ``dγ = Σ_h W1 ⊙ (x̂ᵀ dz1)ᵀ``, ``dβ = W1ᵀ db1``: one small matmul
``dz1ᵀ x̂`` gives all three, so the gradient with respect to ``x_in`` (a
third small matmul) is never formed. The input needs no gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.optim.optimizer import _get_scalar_dtype

__all__ = ["PARAM_NAMES", "EPS_BN", "Switches", "Workspace", "loss_grads", "predict", "FusedAdam"]

#: The stacked parameters, in torch's layout with a leading model axis.
PARAM_NAMES = ("bn_weight", "bn_bias", "w1", "b1", "w2", "b2", "w3", "b3")
#: ``nn.BatchNorm1d``'s default epsilon.
EPS_BN = 1e-5


@dataclass
class Switches:
    """The per-model switches of K stacked models.

    Attributes:
        bn: 1.0 where a model has input BatchNorm, else 0.0.
        n_drop: models ``[0, n_drop)`` use dropout (masks passed per step).
        l1, l2: penalty coefficients on the first kernel.
        l1_rest, l2_rest: penalty coefficients on the second and third
            kernels (non-zero only for ``penalty_layers="all"``).
        rest: ``[start, stop)`` of the models with a non-zero ``*_rest``
            coefficient (the penalty's work is done on that range only).

    Shape:
        ``bn``: ``(K, 1, 1)``; ``l1, l2, l1_rest, l2_rest``: ``(K, 1, 1)``.
    """

    bn: torch.Tensor
    n_drop: int
    l1: torch.Tensor
    l2: torch.Tensor
    l1_rest: torch.Tensor
    l2_rest: torch.Tensor
    rest: tuple[int, int]

    def __post_init__(self) -> None:
        self.any_l1 = bool(self.l1.any())
        self.any_l2 = bool(self.l2.any())
        a, b = self.rest
        self.any_l1_rest = b > a and bool(self.l1_rest[a:b].any())
        self.any_l2_rest = b > a and bool(self.l2_rest[a:b].any())
        # d(l2 * sum W²)/dW = 2 * l2 * W; doubling is exact, so (2 * l2) * W rounds as l2 * (2 * W).
        self.l2x2, self.l2x2_rest = 2 * self.l2, 2 * self.l2_rest


class Workspace:
    """Preallocated activations and gradients for one batch size (fresh multi-MB tensors each step cost page faults).

    Shape:
        activations ``(K, B, H)``; ``grads[name]``: the shape of ``params[name]``.
    """

    def __init__(self, params: dict[str, torch.Tensor], batch: int):
        K, H, F = params["w1"].shape
        dtype = params["w1"].dtype

        def empty(*shape: int) -> torch.Tensor:
            return torch.empty(*shape, dtype=dtype)

        self.h1, self.h2, self.dz = (empty(K, batch, H) for _ in range(3))
        self.x_hat, self.x_in = empty(K, batch, F), empty(K, batch, F)
        self.out = empty(K, batch, 1)
        self.khf = empty(K, H, F)  # (x̂ᵀ dz1)ᵀ, then sign(W1)
        self.khh, self.k1h = empty(K, H, H), empty(K, 1, H)  # scratch: sign(W2), sign(W3)
        self.grads = {name: torch.empty_like(t) for name, t in params.items()}


def _bn_effective(
    p: dict[str, torch.Tensor], bn: torch.Tensor, mean: torch.Tensor, var: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(mean, 1/std, γ, β)`` per model, replaced by ``(0, 1, 1, 0)`` where BatchNorm is off. Shape: ``(K, 1, F)`` each."""
    off = 1.0 - bn
    invstd = 1.0 / torch.sqrt(var + EPS_BN)
    return (
        mean * bn,
        invstd * bn + off,
        p["bn_weight"].unsqueeze(1) * bn + off,
        p["bn_bias"].unsqueeze(1) * bn,
    )


def _through_relu_dropout(
    grad: torch.Tensor, h: torch.Tensor, masks: tuple[torch.Tensor, torch.Tensor] | None, layer: int, nd: int
) -> None:
    """``grad`` (d loss / d h, in place) -> d loss / d z for ``h = relu(z) * mask``: times the mask, zero where h = 0.

    ``h > 0`` exactly where the ReLU and the mask both pass (``1/keep >= 1``
    cannot underflow a positive value), so ReLU's backward can read ``h``.

    Shape:
        ``grad``, ``h``: ``(K, B, H)``; ``masks[layer]``: ``(nd, B, H)``.
    """
    if masks is not None:
        grad[:nd].mul_(masks[layer])
    torch.ops.aten.threshold_backward.grad_input(grad, h, 0, grad_input=grad)


def loss_grads(
    p: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    sw: Switches,
    masks: tuple[torch.Tensor, torch.Tensor] | None,
    ws: Workspace,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training step's forward and backward pass for all K models; the gradients land in ``ws.grads``.

    The loss of model k is ``mean((f_k(x_k) - y_k)²) + penalty_k``, as
    ``train_mlp`` (its MSE plus ``kernel_penalty``); BatchNorm uses the batch
    statistics (training mode).

    Args:
        p: stacked parameters (:data:`PARAM_NAMES`).
        x, y: each model's mini-batch.
        sw: the per-model switches.
        masks: the two dropout layers' masks (``1 / keep`` or 0) of models
            ``[0, sw.n_drop)``, or None when no model uses dropout.
        ws: the buffers for this batch size.

    Returns:
        ``(mse, batch_mean, batch_var)``: each model's data loss and its
        batch's mean and biased variance (for BatchNorm's running statistics).

    Shape:
        ``x``: ``(K, B, F)``; ``y``: ``(K, B)``; masks: ``(n_drop, B, H)``;
        returns ``(K,)``, ``(K, F)``, ``(K, F)``.
    """
    B = x.shape[1]
    nd = sw.n_drop
    # BatchNorm's batch statistics (biased variance, two passes as torch's CPU kernel); x_in doubles as scratch.
    mean = x.mean(1, keepdim=True)
    x_hat, x_in = ws.x_hat, ws.x_in
    torch.sub(x, mean, out=x_in)
    var = x_in.mul_(x_in).mean(1, keepdim=True)
    mean_e, invstd_e, gamma_e, beta_e = _bn_effective(p, sw.bn, mean, var)
    torch.sub(x, mean_e, out=x_hat).mul_(invstd_e)
    torch.mul(x_hat, gamma_e, out=x_in).add_(beta_e)

    h1, h2, dz = ws.h1, ws.h2, ws.dz
    torch.bmm(x_in, p["w1"].transpose(1, 2), out=h1)
    h1.add_(p["b1"].unsqueeze(1)).relu_()
    if masks is not None:
        h1[:nd].mul_(masks[0])
    torch.bmm(h1, p["w2"].transpose(1, 2), out=h2)
    h2.add_(p["b2"].unsqueeze(1)).relu_()
    if masks is not None:
        h2[:nd].mul_(masks[1])
    torch.bmm(h2, p["w3"].transpose(1, 2), out=ws.out)
    residual = ws.out.squeeze(2).add_(p["b3"]).sub_(y)
    mse = residual.pow(2).mean(1)

    g = ws.grads
    dout = residual.mul_(2.0 / B)  # d mean(r²) / d out, as mse_loss's backward
    torch.sum(dout, 1, keepdim=True, out=g["b3"])
    torch.bmm(dout.unsqueeze(1), h2, out=g["w3"])
    torch.mul(dout.unsqueeze(2), p["w3"], out=dz)  # d loss / d h2
    _through_relu_dropout(dz, h2, masks, 1, nd)  # d loss / d z2
    torch.bmm(dz.transpose(1, 2), h1, out=g["w2"])
    torch.sum(dz, 1, out=g["b2"])
    dz1 = torch.bmm(dz, p["w2"], out=h2)  # h2 is no longer needed: reuse its buffer for d loss / d h1
    _through_relu_dropout(dz1, h1, masks, 0, nd)
    torch.sum(dz1, 1, out=g["b1"])
    ct = torch.bmm(dz1.transpose(1, 2), x_hat, out=ws.khf)  # (x̂ᵀ dz1)ᵀ, in W1's layout
    bn = sw.bn.squeeze(2)
    torch.mul(torch.mul(p["w1"], ct, out=g["w1"]).sum(1), bn, out=g["bn_weight"])  # g["w1"] as scratch
    torch.mul(torch.bmm(g["b1"].unsqueeze(1), p["w1"]).squeeze(1), bn, out=g["bn_bias"])
    torch.mul(ct, gamma_e, out=g["w1"]).addcmul_(g["b1"].unsqueeze(2), beta_e)

    # Penalties: d(l1 Σ|W|)/dW = l1 sign(W) (0 at 0, as autograd's abs), d(l2 Σ W²)/dW = 2 l2 W.
    if sw.any_l1:
        g["w1"].addcmul_(torch.sign(p["w1"], out=ws.khf), sw.l1)
    if sw.any_l2:
        g["w1"].addcmul_(p["w1"], sw.l2x2)
    a, b = sw.rest
    for name, scratch in (("w2", ws.khh), ("w3", ws.k1h)):
        if sw.any_l1_rest:
            g[name][a:b].addcmul_(torch.sign(p[name][a:b], out=scratch[a:b]), sw.l1_rest[a:b])
        if sw.any_l2_rest:
            g[name][a:b].addcmul_(p[name][a:b], sw.l2x2_rest[a:b])
    return mse, mean.squeeze(1), var.squeeze(1)


def predict(
    p: dict[str, torch.Tensor], x: torch.Tensor, bn: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor
) -> torch.Tensor:
    """The K models in eval mode (BatchNorm on running statistics, no dropout).

    Shape:
        ``x``: ``(K, N, F)``; ``bn``: ``(K, 1, 1)``; running stats ``(K, F)``; returns ``(K, N)``.
    """
    mean_e, invstd_e, gamma_e, beta_e = _bn_effective(p, bn, running_mean.unsqueeze(1), running_var.unsqueeze(1))
    h = ((x - mean_e) * invstd_e) * gamma_e + beta_e
    # bmm then add_: baddbmm with a broadcast bias first copies the bias out to the full output, then runs slower.
    h = torch.bmm(h, p["w1"].transpose(1, 2)).add_(p["b1"].unsqueeze(1)).relu_()
    h = torch.bmm(h, p["w2"].transpose(1, 2)).add_(p["b2"].unsqueeze(1)).relu_()
    return torch.bmm(h, p["w3"].transpose(1, 2)).squeeze(2).add_(p["b3"])


class FusedAdam:
    """torch's fused Adam kernel (what ``torch.optim.Adam(fused=True)`` calls) on contiguous model ranges.

    One call per learning-rate range; the parameters are views of the stacked
    tensors, so no per-step concatenation is needed. Adam's defaults as
    ``train_mlp`` uses them: betas (0.9, 0.999), eps 1e-8, no weight decay.

    Shape:
        ``params[name]``: ``(K, ...)``; ``ranges``: ``[(start, stop, lr), ...]`` covering ``[0, K)``.
    """

    def __init__(self, params: dict[str, torch.Tensor], ranges: list[tuple[int, int, float]]):
        self.params = params
        self.exp_avg = {n: torch.zeros_like(t) for n, t in params.items()}
        self.exp_avg_sq = {n: torch.zeros_like(t) for n, t in params.items()}
        self.ranges = ranges
        self.steps = [[torch.zeros((), dtype=_get_scalar_dtype(is_fused=True)) for _ in params] for _ in ranges]
        # The views each call takes, made once (slicing 32 tensors per range and step is measurable Python time).
        self._views = [tuple(self._slices(t, a, b) for t in (params, self.exp_avg, self.exp_avg_sq)) for a, b, _ in ranges]
        self._grad_views: dict[int, tuple[dict, list[list[torch.Tensor]]]] = {}

    def _slices(self, tensors: dict[str, torch.Tensor], a: int, b: int) -> list[torch.Tensor]:
        return [tensors[n][a:b] for n in self.params]

    def step(self, grads: dict[str, torch.Tensor]) -> None:
        """One Adam update of every parameter from ``grads`` (same keys and shapes as the parameters)."""
        # One entry per gradient dict (one per batch size); it holds the dict, so its id cannot be reused.
        entry = self._grad_views.get(id(grads))
        if entry is None or entry[0] is not grads:
            if len(self._grad_views) >= 4:  # a caller passing fresh dicts must not grow this without bound
                self._grad_views.clear()
            entry = self._grad_views[id(grads)] = (grads, [self._slices(grads, a, b) for a, b, _ in self.ranges])
        for (_, _, lr), steps, (p, m, v), g in zip(self.ranges, self.steps, self._views, entry[1]):
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                p,
                g,
                m,
                v,
                [],
                steps,
                amsgrad=False,
                lr=lr,
                beta1=0.9,
                beta2=0.999,
                weight_decay=0.0,
                eps=1e-8,
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )
