"""`python -m regnorm_lab.studies`: list, run with --draws/--seeds/--json, the registry, Dask = local."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from regnorm_lab.studies.__main__ import main, parse_draws
from regnorm_lab.studies.analysis import VERDICTS, Claim, paired_effect
from regnorm_lab.studies.design import run_design
from regnorm_lab.studies.registry import StudyResult, get_study, register_study, study_names
from regnorm_lab.studies.training import TrainConfig

TINY = TrainConfig(hidden=8, epochs=3, eval_every=3, batch_size=64)
TINY_CELLS = [dict(l1=0.0), dict(l1=0.01)]


def _tiny_study(draws, seeds, *, scheduler=None, progress=True) -> StudyResult:
    table = run_design(TINY_CELLS, draws, seeds, base=TINY, scheduler=scheduler, progress=progress)
    e = paired_effect(table, dict(l1=0.0), dict(l1=0.01))
    claim = Claim("l1_moves", "L1 changes test R²", "inconclusive", e.estimate, e.ci, e.n_draws, e.n_seeds)
    return StudyResult("tiny", list(draws), seeds, table, [claim])


register_study("tiny", _tiny_study, default_draws=range(2), default_seeds=2, description="test study")


def test_list_names_the_studies(capsys: pytest.CaptureFixture) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "seed003" in out and "tiny" in out
    assert "seed003" in study_names()


def test_run_writes_the_json_contract(tmp_path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.json"
    assert main(["run", "tiny", "--draws", "3-4", "--seeds", "2", "--json", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert list(data) == ["study", "draws", "seeds", "claims"]
    assert data["study"] == "tiny" and data["draws"] == [3, 4] and data["seeds"] == 2
    (claim,) = data["claims"]
    assert list(claim) == ["id", "statement", "verdict", "estimate", "ci", "n_draws", "n_seeds"]
    assert claim["verdict"] in VERDICTS and claim["n_draws"] == 2 and claim["n_seeds"] == 2
    assert claim["ci"][0] <= claim["estimate"] <= claim["ci"][1]
    assert "l1_moves" in capsys.readouterr().out


def test_run_rejects_bad_arguments() -> None:
    with pytest.raises(SystemExit):
        main(["run", "tiny", "--draws", "5-3"])
    with pytest.raises(SystemExit):
        main(["run", "no_such_study"])
    with pytest.raises(ValueError, match="name"):
        get_study("no_such_study")


def test_parse_draws() -> None:
    assert parse_draws("900-904") == [900, 901, 902, 903, 904]
    assert parse_draws("1,5-6") == [1, 5, 6]
    with pytest.raises(ValueError, match="--draws"):
        parse_draws("x")


def test_table_is_tidy_and_chunking_changes_only_rounding() -> None:
    a = run_design(TINY_CELLS, [0, 1], 2, base=TINY, progress=False)
    b = run_design(TINY_CELLS, [0, 1], 2, base=TINY, progress=False, chunk=3)
    assert list(a.columns) == ["l1", "dataset", "draw", "seed", "train_r2", "val_r2", "test_r2"]
    assert len(a) == 2 * 2 * 2
    # float32 matmuls blocked differently for another K differ in the last bits, nothing more
    np.testing.assert_allclose(a[["train_r2", "val_r2", "test_r2"]], b[["train_r2", "val_r2", "test_r2"]], atol=1e-6)


def test_design_rejects_unknown_factors() -> None:
    with pytest.raises(ValueError, match="cells"):
        run_design([dict(l3=1.0)], [0], 1, base=TINY, progress=False)
    with pytest.raises(ValueError, match="datasets"):
        run_design(TINY_CELLS, [0], 1, base=TINY, datasets=("mnist",), progress=False)
    with pytest.raises(ValueError, match="kernel"):
        run_design(TINY_CELLS, [0], 1, base=TINY, progress=False, kernel="numpy")


def test_design_passes_its_kernel_to_every_batched_training(monkeypatch: pytest.MonkeyPatch) -> None:
    # seed003's autograd record (chapter 11) rests on run_design training every chunk with the kernel asked for.
    import regnorm_lab.studies.design as design

    seen, train = [], design.train_batched
    monkeypatch.setattr(design, "train_batched", lambda *a, **kw: seen.append(kw.get("kernel")) or train(*a, **kw))
    fast = run_design(TINY_CELLS, [0, 1], 1, base=TINY, progress=False, chunk=3)
    assert seen and set(seen) == {"fast"}
    seen.clear()
    slow = run_design(TINY_CELLS, [0, 1], 1, base=TINY, progress=False, chunk=3, kernel="autograd")
    assert seen and set(seen) == {"autograd"}
    # The same training (equal in float64), rounded differently in float32: a few epochs stay close.
    np.testing.assert_allclose(slow[["train_r2", "val_r2", "test_r2"]], fast[["train_r2", "val_r2", "test_r2"]],
                               rtol=0, atol=1e-3)


@pytest.mark.slow
def test_dask_local_cluster_equals_local_run() -> None:
    from distributed import Client, LocalCluster

    local = run_design(TINY_CELLS, [0, 1], 2, base=TINY, datasets=("synthetic", "diabetes"), progress=False, chunk=3)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            remote = run_design(TINY_CELLS, [0, 1], 2, base=TINY, datasets=("synthetic", "diabetes"),
                                progress=False, chunk=3, scheduler=client)
    assert local.drop(columns=["train_r2", "val_r2", "test_r2"]).equals(
        remote.drop(columns=["train_r2", "val_r2", "test_r2"]))
    np.testing.assert_allclose(remote[["train_r2", "val_r2", "test_r2"]], local[["train_r2", "val_r2", "test_r2"]],
                               rtol=0, atol=1e-6)


@pytest.mark.slow
def test_seed003_cli_on_a_tiny_design(tmp_path) -> None:
    out = tmp_path / "s.json"
    proc = subprocess.run([sys.executable, "-m", "regnorm_lab.studies", "run", "seed003", "--seeds", "2",
                           "--draws", "0-1", "--json", str(out), "--quiet"], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["draws"] == [0, 1] and data["seeds"] == 2
    ids = {c["id"] for c in data["claims"]}
    assert {"synthetic_first_l1_x_dropout", "synthetic_all_l1_x_dropout", "diabetes_first_l2_x_dropout"} <= ids
    assert all(c["verdict"] in VERDICTS and c["n_draws"] == 2 for c in data["claims"])
