"""The batched training probe measures, run by run, what the single-model probe measures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from regnorm_lab.studies.experiments_norm import make_deep_mlp
from regnorm_lab.studies.norm_probe import probe_training, probe_training_batched

FIELDS = ("losses", "mean_shift", "var_shift", "ics", "loss_range", "grad_change", "grad_norm")


def _data(seed: int, n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 6, generator=g, dtype=torch.float64)
    y = (X[:, 0] + X[:, 1] > 0).long() + (X[:, 2] > 1).long()
    return X, y


def _model(seed: int, norm: str) -> torch.nn.Sequential:
    return make_deep_mlp(6, 3, generator=torch.Generator().manual_seed(seed), depth=3, width=16, norm=norm,
                         init="he", noise_scale=0.3,
                         noise_generator=torch.Generator().manual_seed(seed + 50)).double()


@pytest.mark.parametrize("norm", ["none", "batch", "noisy_batch"])
def test_batched_probe_equals_single_probe_run_by_run(norm: str) -> None:
    torch.set_num_threads(1)
    runs = [(0, 1), (1, 2), (2, 1)]  # (model seed, data seed): two runs share data, two share weights
    kw = dict(lr=0.2, steps=14, every=4, probe_layer=2, step_multipliers=(0.5, 1.0, 3.0), probe_size=32)
    single = []
    for ms, ds in runs:
        X, y = _data(ds)
        single.append(probe_training(_model(ms, norm), X, y, generator=torch.Generator().manual_seed(100 + ms), **kw))
    data = [_data(ds) for _, ds in runs]
    batched = probe_training_batched(
        [_model(ms, norm) for ms, _ in runs], [X for X, _ in data], [y for _, y in data],
        generators=[torch.Generator().manual_seed(100 + ms) for ms, _ in runs], **kw,
    )
    assert len(batched) == len(runs)
    for a, b in zip(single, batched):
        for f in FIELDS:
            va, vb = np.asarray(getattr(a, f)), np.asarray(getattr(b, f))
            assert va.shape == vb.shape, f
            np.testing.assert_allclose(vb, va, rtol=1e-9, atol=1e-12, err_msg=f)
    # The runs differ from one another (the stacking does not mix models).
    assert batched[0].losses != batched[1].losses and batched[0].losses != batched[2].losses


def test_batched_probe_rejects_mixed_architectures_and_bad_layer() -> None:
    X, y = _data(0)
    gens = [torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)]
    with pytest.raises(ValueError, match="architecture"):
        probe_training_batched([_model(0, "none"), _model(0, "batch")], [X, X], [y, y], lr=0.1, steps=1,
                               generators=gens)
    with pytest.raises(ValueError, match="probe_layer"):
        probe_training_batched([_model(0, "none")], [X], [y], lr=0.1, steps=1, generators=gens[:1], probe_layer=0)
    with pytest.raises(ValueError, match="equal length"):
        probe_training_batched([_model(0, "none")], [X, X], [y], lr=0.1, steps=1, generators=gens[:1])
