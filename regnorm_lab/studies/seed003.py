"""Study ``seed003``: does combining L1/L2 with dropout make one overwrite the other?

The student's model (seed 003): ``BatchNorm`` on the input, ``Dense(128,
relu) -> Dense(128, relu) -> Dense(1)``, an L1 ``kernel_regularizer`` on the
*first* kernel only, optional dropout, Adam at ``lr=0.01``, judged by R².

Design (the defaults, which chapter 11 uses):

- data: the course's synthetic task (draws 0-4) and scikit-learn's
  ``load_diabetes`` (draws 0-4, each a fresh 60/20/20 split); 5 training
  seeds per cell and draw;
- the student's model (penalty on the first kernel): penalty none, L1 0.01 /
  0.03 or L2 0.01 / 0.03, each without and with dropout ``p = 0.3``;
- the book's earlier variant (penalty on all three kernels), synthetic data
  only: the same four penalties, without and with dropout.

Analysis (:mod:`~regnorm_lab.studies.analysis`): the penalty strength is
chosen per data draw on the *validation* split (the strength with the best
seed-averaged validation R² without dropout); every effect is then measured
on the *test* split, paired on (draw, seed), seed-averaged within each draw,
with a 95 % t-interval over the draws. Direction claims are Holm-corrected
within the family a paragraph reads at once (for one data set, penalty scope
and penalty: "helps", "survives dropout", "interaction"; the "dropout alone"
claim is a family of one); "hardly matters" claims are TOST equivalence tests
with margin :data:`MARGIN` in R², Holm-corrected within one data set and
scope. The learning rate is the student's 0.01 in
the default design (a limit the page states).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .analysis import (
    Claim,
    Effect,
    cell_summary,
    direction_verdict,
    equivalence_verdict,
    holm,
    interaction_effect,
    paired_effect,
    tost,
)
from .design import run_design
from .registry import StudyResult, register_study
from .training import TrainConfig

__all__ = ["MARGIN", "P_DROP", "STRENGTHS", "BASE", "LR_RANGE", "cells", "seed003", "seed003_lr", "choose_strength"]

#: Equivalence margin in R² for every "hardly matters" claim.
MARGIN = 0.02
#: The dropout probability the grid switches on.
P_DROP = 0.3
#: Penalty strengths tried (the student's 0.01 and three times it); one is chosen per draw on validation.
STRENGTHS = (0.01, 0.03)
#: Every run: the student's 2x128 model, Adam lr 0.01, batch 64, 60 epochs.
BASE = TrainConfig(epochs=60, eval_every=60, lr=1e-2, batch_size=64, penalty_layers="first")


def cells(penalty_layers: str) -> list[dict[str, Any]]:
    """The grid of one penalty scope: no penalty, L1 and L2 at each strength, each without and with dropout."""
    out = []
    for p in (0.0, P_DROP):
        if penalty_layers == "first":
            out.append(dict(l1=0.0, l2=0.0, dropout=p, penalty_layers="first"))
        for kind in ("l1", "l2"):
            for lam in STRENGTHS:
                cell = dict(l1=0.0, l2=0.0, dropout=p, penalty_layers=penalty_layers)
                cell[kind] = lam
                out.append(cell)
    return out


def choose_strength(table: pd.DataFrame, dataset: str, kind: str, scope: str) -> dict[int, float]:
    """Per draw, the strength of penalty ``kind`` with the best seed-averaged *validation* R² (no dropout)."""
    other = "l2" if kind == "l1" else "l1"
    rows = table[(table.dataset == dataset) & (table.penalty_layers == scope) & (table.dropout == 0.0)
                 & (table[kind] > 0) & (table[other] == 0.0)]
    means = rows.groupby(["draw", kind])["val_r2"].mean().reset_index()
    best = means.loc[means.groupby("draw")["val_r2"].idxmax()]
    return dict(zip(best["draw"].astype(int), best[kind].astype(float)))


def _tuned(table: pd.DataFrame, dataset: str, kind: str, scope: str) -> pd.DataFrame:
    """The table of one dataset with a ``pen`` column: ``none``, or ``tuned`` where the strength is the chosen one."""
    lam = choose_strength(table, dataset, kind, scope)
    other = "l2" if kind == "l1" else "l1"
    t = table[(table.dataset == dataset) & (table[other] == 0.0)].copy()
    t["pen"] = None
    t.loc[(t[kind] == 0.0) & (t.penalty_layers == "first"), "pen"] = "none"
    chosen = t["draw"].map(lam)
    t.loc[(t[kind] > 0) & (t.penalty_layers == scope) & np.isclose(t[kind], chosen), "pen"] = "tuned"
    return t[t["pen"].notna()]


def _claims(table: pd.DataFrame) -> tuple[list[Claim], dict[str, Effect], dict[str, float]]:
    """The verdict table: effects, Holm over the direction tests, Holm over the TOSTs.

    Returns:
        ``(claims, effects, p_holm)``: ``p_holm`` maps each claim id to the
        Holm-adjusted p-value that decides its verdict (the two-sided
        t-test's for a direction claim, the TOST's for an equivalence claim),
        so that a page can say how close a verdict sits to ``alpha = 0.05``.
    """
    specs: list[tuple[str, str, str, Effect, int]] = []  # id, statement, kind, effect, sign (0: equivalence)
    effects: dict[str, Effect] = {}
    for dataset, scopes in (("synthetic", ("first", "all")), ("diabetes", ("first",))):
        where = "synthetic task" if dataset == "synthetic" else "diabetes data"
        for scope in scopes:
            on = "the first kernel" if scope == "first" else "all three kernels"
            for kind in ("l1", "l2"):
                name = kind.upper()
                t = _tuned(table, dataset, kind, scope)
                none0, none1 = dict(pen="none", dropout=0.0), dict(pen="none", dropout=P_DROP)
                tuned0, tuned1 = dict(pen="tuned", dropout=0.0), dict(pen="tuned", dropout=P_DROP)
                key = f"{dataset}_{scope}_{kind}"
                e_help = paired_effect(t, none0, tuned0)
                e_surv = paired_effect(t, none1, tuned1)
                e_drop = paired_effect(t, tuned0, tuned1)
                e_int = interaction_effect(t, none0, dict(pen="tuned"), dict(dropout=P_DROP))
                effects.update({f"{key}_helps": e_help, f"{key}_survives_dropout": e_surv,
                                f"{key}_dropout_on_top": e_drop, f"{key}_x_dropout": e_int})
                specs += [
                    (f"{key}_helps", f"{name} on {on} (strength tuned on validation) raises test R² "
                     f"({where}, no dropout)", "direction", e_help, 1),
                    (f"{key}_survives_dropout", f"with dropout {P_DROP} in the model, {name} on {on} still "
                     f"raises test R²: dropout does not overwrite it ({where})", "direction", e_surv, 1),
                    (f"{key}_dropout_on_top", f"adding dropout {P_DROP} to the tuned {name}-on-{on} model hardly "
                     f"matters (|ΔR²| < {MARGIN}, {where})", "equivalence", e_drop, 0),
                    (f"{key}_x_dropout", f"{name} on {on} and dropout overlap: their interaction on test R² is "
                     f"negative, the pair gains less than the sum of the two ({where})", "direction", e_int, -1),
                ]
            if scope == "first":
                t = _tuned(table, dataset, "l1", "first")
                e = paired_effect(t, dict(pen="none", dropout=0.0), dict(pen="none", dropout=P_DROP))
                effects[f"{dataset}_dropout_helps"] = e
                specs.append((f"{dataset}_dropout_helps", f"dropout {P_DROP} alone raises test R² ({where})",
                              "direction", e, 1))
    # Holm families = the intervals one paragraph reads together: the direction claims of one
    # (dataset, penalty scope, penalty kind) -- helps, survives dropout, interaction -- and, separately,
    # the equivalence claims of one (dataset, scope). A family of all 26 claims would need 5 draws to
    # show effects of ~5 standard errors; these are the comparisons a reader actually makes at once.
    families: dict[tuple, list[int]] = {}
    for i, (cid, _, kind, _, _) in enumerate(specs):
        parts = cid.split("_")
        key = (parts[0], parts[1], parts[2] if kind == "direction" else "", kind)
        families.setdefault(key, []).append(i)
    p_adj, p_tost_adj = np.ones(len(specs)), np.ones(len(specs))
    for idx in families.values():
        p_adj[idx] = holm([specs[i][3].p_value for i in idx])
        if specs[idx[0]][2] == "equivalence":
            p_tost_adj[idx] = holm([tost(specs[i][3].draw_effects, MARGIN)[0] for i in idx])
    claims, p_holm = [], {}
    for i, (cid, statement, kind, e, sign) in enumerate(specs):
        if kind == "direction":
            verdict = direction_verdict(e, sign, p_adj[i], MARGIN)
            p_holm[cid] = float(p_adj[i])
        else:
            verdict = equivalence_verdict(e, p_tost_adj[i], p_adj[i], MARGIN)
            p_holm[cid] = float(p_tost_adj[i])
        claims.append(Claim(cid, statement, verdict, e.estimate, e.ci, e.n_draws, e.n_seeds))
    return claims, effects, p_holm


def seed003(draws: Sequence[int], seeds: int, *, scheduler: Any = None, progress: bool = True,
            kernel: str = "fast") -> StudyResult:
    """Run the seed-003 study on ``draws`` with ``seeds`` seeds and return its table and verdicts.

    ``kernel`` picks the batched trainer's implementation (``"fast"``, the
    default, or ``"autograd"``, the first one): equal in float64, they round
    differently in float32, which chapter 11 reports as the edge of its
    verdicts (:mod:`~regnorm_lab.studies.seed003_records`).

    Returns:
        A :class:`~regnorm_lab.studies.registry.StudyResult`; ``extra`` holds
        ``effects`` (claim id -> :class:`~regnorm_lab.studies.analysis.Effect`),
        ``cells`` (per-cell median / IQR / collapse counts of test R²) and
        ``p_holm`` (claim id -> the Holm-adjusted p-value behind its verdict).

    Raises:
        ValueError: fewer than 2 draws (no interval over draws), or an unknown ``kernel``.
    """
    draws = [int(d) for d in draws]
    if len(draws) < 2:
        raise ValueError(f"draws must hold at least 2 draws, got {draws}")
    synthetic = run_design(cells("first") + cells("all"), draws, seeds, base=BASE, datasets=("synthetic",),
                           scheduler=scheduler, progress=progress, kernel=kernel)
    diabetes = run_design(cells("first"), draws, seeds, base=BASE, datasets=("diabetes",),
                          scheduler=scheduler, progress=progress, kernel=kernel)
    table = pd.concat([synthetic, diabetes], ignore_index=True)
    claims, effects, p_holm = _claims(table)
    summary = cell_summary(table, ["dataset", "penalty_layers", "l1", "l2", "dropout"])
    return StudyResult("seed003", draws, seeds, table, claims,
                       extra={"effects": effects, "cells": summary, "p_holm": p_holm})


register_study(
    "seed003",
    seed003,
    default_draws=range(5),
    default_seeds=5,
    description="L1/L2 x dropout on the student's model (first-kernel penalty) and on all kernels; synthetic + diabetes",
)


#: Learning rates of the robustness study (the main study uses the question's 0.01).
LR_RANGE = (3e-3, 3e-2)


def seed003_lr(draws: Sequence[int], seeds: int, *, scheduler: Any = None, progress: bool = True,
               base: TrainConfig = BASE) -> StudyResult:
    """Does the answer hold at other learning rates? L1 (first kernel) x dropout at each lr of :data:`LR_RANGE`.

    Synthetic task only; per learning rate the strength is again chosen per
    draw on validation and the "survives dropout" and interaction claims are
    measured on test, Holm-corrected within each learning rate. ``base`` is
    the config every run starts from (the study's :data:`BASE`; tests pass a
    few-epoch one to check the machinery quickly).

    Raises:
        ValueError: fewer than 2 draws.
    """
    draws = [int(d) for d in draws]
    if len(draws) < 2:
        raise ValueError(f"draws must hold at least 2 draws, got {draws}")
    grid = [c for c in cells("first") if c["l2"] == 0.0]
    table = run_design([{**c, "lr": lr} for lr in LR_RANGE for c in grid], draws, seeds, base=base,
                       datasets=("synthetic",), scheduler=scheduler, progress=progress)
    claims, effects = [], {}
    for lr in LR_RANGE:
        t = _tuned(table[np.isclose(table.lr, lr)], "synthetic", "l1", "first")
        none0, tuned0 = dict(pen="none", dropout=0.0), dict(pen="tuned", dropout=0.0)
        e_surv = paired_effect(t, dict(pen="none", dropout=P_DROP), dict(pen="tuned", dropout=P_DROP))
        e_int = interaction_effect(t, none0, dict(pen="tuned"), dict(dropout=P_DROP))
        p = holm([e_surv.p_value, e_int.p_value])
        for (cid, statement, e, sign), p_adj in zip(
            ((f"lr{lr:g}_l1_survives_dropout", f"at lr {lr:g}, with dropout {P_DROP} on, L1 on the first kernel "
              "still raises test R²", e_surv, 1),
             (f"lr{lr:g}_l1_x_dropout", f"at lr {lr:g}, the L1 x dropout interaction on test R² is negative",
              e_int, -1)), p):
            effects[cid] = e
            claims.append(Claim(cid, statement, direction_verdict(e, sign, p_adj, MARGIN), e.estimate, e.ci,
                                e.n_draws, e.n_seeds))
    return StudyResult("seed003_lr", draws, seeds, table, claims, extra={"effects": effects})


register_study(
    "seed003_lr",
    seed003_lr,
    default_draws=range(5),
    default_seeds=3,
    description="seed003's L1 x dropout answer at learning rates 0.003 and 0.03 (synthetic, first kernel)",
)
