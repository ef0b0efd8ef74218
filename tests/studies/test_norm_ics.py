"""Tests for regnorm_lab.studies.norm_ics: chapter 10's study over draws and seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from regnorm_lab.studies.experiments_norm import TrainingProbe
from regnorm_lab.studies.norm_ics import MODELS, ics_study, summarise_probe


def test_summarise_probe_reads_the_right_windows():
    p = TrainingProbe(losses=[4.0, 3.0, 2.0, 1.0], mean_shift=[1.0, 3.0], var_shift=[2.0, 2.0],
                      ics=[0.1, 0.5, 0.3], loss_range=[1.0, 5.0, 2.0], grad_change=[3.0, 1.0, 2.0])
    s = summarise_probe(p, window=2)
    assert s["loss_first"] == 3.5 and s["loss_last"] == 1.5
    assert s["mean_shift"] == 2.0 and s["ics"] == 0.3
    assert s["loss_range"] == 2.0 and s["loss_range_max"] == 5.0
    assert s["beta"] == 2.0 and s["beta_max"] == 3.0
    with pytest.raises(ValueError, match="window"):
        summarise_probe(p, window=5)


def test_ics_study_is_a_tidy_paired_table_and_reproducible():
    torch.set_num_threads(1)
    a = ics_study(draws=(0, 1), seeds=(0,), steps=60, every=30)
    b = ics_study(draws=(0, 1), seeds=(0,), steps=60, every=30)
    assert len(a.table) == 2 * 1 * len(MODELS)
    assert set(a.table["model"]) == set(MODELS)
    assert a.table.groupby(["draw", "seed"]).size().eq(len(MODELS)).all()
    num = a.table.select_dtypes("number")
    assert np.array_equal(num.to_numpy(), b.table.select_dtypes("number").to_numpy())
    # Another draw is other data: the plain network's loss differs between the draws.
    plain = a.table[a.table.model == "plain"]["loss_first"].to_numpy()
    assert plain[0] != plain[1]
    # BN pins the probed layer's input moments: its mean shift is far below the plain network's in every run.
    wide = a.table.pivot_table(index=["draw", "seed"], columns="model", values="mean_shift")
    assert (wide["BN"] < 0.3 * wide["plain"]).all()
    assert (wide["noisy BN"] > wide["BN"]).all()


def test_ics_study_rejects_repeated_seeds():
    with pytest.raises(ValueError, match="seeds"):
        ics_study(draws=(0,), seeds=(1, 1))
    with pytest.raises(ValueError, match="draws"):
        ics_study(draws=(), seeds=(0,))
