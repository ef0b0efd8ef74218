"""Tests for regnorm_lab.studies.claims_studies: the ledger's studies through the registry and the CLI."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from regnorm_lab.studies.__main__ import main
from regnorm_lab.studies.analysis import VERDICTS
from regnorm_lab.studies.claims_studies import direction_claims
from regnorm_lab.studies.records import RECORDS, assert_matches_record, load_record
from regnorm_lab.studies.registry import study_names


def test_the_ledger_studies_are_registered():
    assert {"claims_overfitting", "claims_ics", "claims_bn_gradients"} <= set(study_names())


def _table(diffs: dict[int, float]) -> pd.DataFrame:
    rows = []
    for d, diff in diffs.items():
        for s in (0, 1):
            rows += [{"draw": d, "seed": s, "model": "a", "gap": 1.0 + diff + 0.01 * s},
                     {"draw": d, "seed": s, "model": "b", "gap": 1.0}]
    return pd.DataFrame(rows)


def test_direction_claims_read_the_sign_and_the_disagreement_of_draws():
    clear = _table({0: -0.2, 1: -0.25, 2: -0.22, 3: -0.21})
    mixed = _table({0: -0.3, 1: 0.3, 2: -0.2, 3: 0.25})
    read = [("c", "a lowers the gap", "gap", "a|b", -1, 0.05)]
    (claim,) = direction_claims(clear, "model", read)
    assert claim.verdict == "holds" and claim.ci[1] < 0 and (claim.n_draws, claim.n_seeds) == (4, 2)
    (claim,) = direction_claims(clear, "model", [("c", "a raises the gap", "gap", "a|b", 1, 0.05)])
    assert claim.verdict == "does not hold"
    (claim,) = direction_claims(mixed, "model", read)
    assert claim.verdict == "nuanced"  # draws beyond +0.05 and beyond -0.05: the direction depends on the draw


@pytest.mark.slow
def test_cli_runs_the_gradient_study_on_other_draws(tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["run", "claims_bn_gradients", "--draws", "900-902", "--json", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert data["study"] == "claims_bn_gradients" and data["draws"] == [900, 901, 902]
    assert {c["verdict"] for c in data["claims"]} <= set(VERDICTS)
    depth40 = next(c for c in data["claims"] if c["id"].endswith("40"))
    assert depth40["verdict"] == "holds" and np.isfinite(depth40["ci"]).all() and depth40["n_draws"] == 3


ICS_RECORD = "claims_ics_replication"


def test_ics_record_check_uses_the_records_tolerance() -> None:
    # Chapter 10 reads this record; a re-run must keep every verdict and come within atol + rtol * |value|.
    record, spec = load_record(ICS_RECORD), RECORDS[ICS_RECORD]
    assert (record["study"], record["draws"], record["seeds"]) == ("claims_ics", list(spec.draws), spec.seeds)
    assert_matches_record(ICS_RECORD, record)
    i = max(range(len(record["claims"])), key=lambda j: abs(record["claims"][j]["estimate"]))  # rtol matters most
    tol = spec.atol + spec.rtol * abs(record["claims"][i]["estimate"])
    for factor, passes in ((0.9, True), (1.1, False)):
        moved = copy.deepcopy(record)
        moved["claims"][i]["estimate"] += factor * tol
        if passes:
            assert_matches_record(ICS_RECORD, moved)
        else:
            with pytest.raises(AssertionError, match="re-create it"):
                assert_matches_record(ICS_RECORD, moved)
    flipped = copy.deepcopy(record)
    flipped["claims"][-1]["verdict"] = "holds" if record["claims"][-1]["verdict"] != "holds" else "nuanced"
    with pytest.raises(AssertionError, match="verdicts changed"):
        assert_matches_record(ICS_RECORD, flipped)
    with pytest.raises(AssertionError, match="draws"):
        assert_matches_record(ICS_RECORD, {**record, "draws": [0, 1, 2, 3, 4]})


@pytest.mark.slow
def test_cli_on_draws_900_904_replicates_chapter_10s_record(tmp_path) -> None:
    # The command chapter 10 tells readers to run, re-run: its JSON must match the committed record the page
    # reads (same verdicts, estimates and intervals within the record's tolerance). About 10 s.
    out = tmp_path / "ics.json"
    assert main(["run", "claims_ics", "--draws", "900-904", "--json", str(out), "--quiet"]) == 0
    assert_matches_record(ICS_RECORD, json.loads(out.read_text()))
