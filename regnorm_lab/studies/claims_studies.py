"""The claims ledger's studies, registered for ``python -m regnorm_lab.studies run NAME``.

Each study calls the same function its chapter calls, with the chapter's
default draws and seeds, and turns the chapter's readings into verdicts
(``holds`` / ``nuanced`` / ``does not hold`` / ``inconclusive``) with the
engine's analysis (:mod:`~regnorm_lab.studies.analysis`): intervals over data
draws of the seed-averaged paired effects, Holm's correction over a study's
claims, TOST behind "no effect". A reader can re-run any of them on other
draws (``--draws 900-904``) and compare the verdicts with the book's.

- ``claims_overfitting`` (chapter 13, claims 5-6): hidden-layer BN narrows the
  overfitting gap; whether an input BN layer changes it against z-scoring
  (TOST at :data:`GAP_MARGIN`) is ``nuanced`` on the book's 5 draws x 5 seeds
  (the sign changes with the draw) and ``holds`` on draws 900-904.
- ``claims_ics`` (chapter 10): BN stills the layer-input moments, lowers the
  gradient ICS only modestly, and a noisy-BN network learns faster early.
- ``claims_bn_gradients`` (chapter 05): BN's gradients explode towards the input
  at initialisation in deep networks without skip connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .analysis import Claim, direction_verdict, draw_t_interval, equivalence_verdict, holm, tost
from .claims_overfitting import BOOK_DRAWS as OVF_DRAWS
from .claims_overfitting import BOOK_SEEDS as OVF_SEEDS
from .claims_overfitting import overfitting_study
from .norm_ics import BOOK_DRAWS as ICS_DRAWS
from .norm_ics import BOOK_SEEDS as ICS_SEEDS
from .norm_ics import ics_study
from .norm_init import BOOK_RATIO_RUNS, gradient_ratio_study
from .registry import StudyResult, register_study

__all__ = ["overfitting_claims", "ICS_READS", "ics_verdicts", "ics_claims", "bn_gradient_claims", "direction_claims"]

#: Equivalence margin (in R²) for "no effect on the overfitting gap", as chapter 13 states it.
GAP_MARGIN = 0.05


def _per_run(table: pd.DataFrame, factor: str, value: str, treatment: str, control: str) -> pd.Series:
    """``treatment - control`` of ``value`` per ``(draw, seed)``: what the engine's interval takes."""
    wide = table.pivot_table(index=["draw", "seed"], columns=factor, values=value, aggfunc="mean")
    return (wide[treatment] - wide[control]).dropna()


def direction_claims(
    table: pd.DataFrame, factor: str, reads: Sequence[tuple[str, str, str, str, int, float]]
) -> list[Claim]:
    """One "this effect has this sign" claim per read, Holm-adjusted over the reads.

    Args:
        table: One row per run with ``draw``, ``seed``, ``factor`` and the value columns.
        factor: The column naming the model.
        reads: ``(id, statement, value, treatment - control as "t|c", sign, margin)`` per claim:
            the claim is that ``treatment - control`` of ``value`` has sign ``sign``;
            ``margin`` is the size beyond which two disagreeing draws make it ``nuanced``.
    """
    effects = []
    for _, _, value, pair, _, _ in reads:
        treatment, control = pair.split("|")
        effects.append(draw_t_interval(_per_run(table, factor, value, treatment, control)))
    p_adj = holm([e.p_value for e in effects])
    return [
        Claim(cid, statement, direction_verdict(e, sign, float(p), margin), e.estimate, e.ci, e.n_draws, e.n_seeds)
        for (cid, statement, _, _, sign, margin), e, p in zip(reads, effects, p_adj)
    ]


def overfitting_claims(draws: Sequence[int], seeds: int, *, scheduler: Any = None, progress: bool = True) -> StudyResult:
    """Chapter 13's claims 5-6 on ``draws`` × ``seeds``: what normalization does to the overfitting gap.

    ``scheduler`` is accepted for the command line's signature; the runs are
    local (one thread), since this study is small.
    """
    base = "input BN, raw inputs"
    table = overfitting_study([base, "input BN + hidden BN", "z-scored, no BN"], draws, range(seeds), progress=progress)
    claims = direction_claims(table, "model", [
        ("hidden-bn-narrows-gap", "BatchNorm after each hidden layer narrows the train-validation R² gap",
         "gap", f"input BN + hidden BN|{base}", -1, GAP_MARGIN),
        ("hidden-bn-raises-val", "BatchNorm after each hidden layer raises validation R²",
         "val_r2", f"input BN + hidden BN|{base}", 1, GAP_MARGIN),
    ])
    layer = draw_t_interval(_per_run(table, "model", "gap", "z-scored, no BN", base))
    p_tost, _ = tost(layer.draw_effects, GAP_MARGIN)
    claims.append(Claim(
        "input-bn-layer-no-gap-effect",
        f"an input BN layer changes the gap by less than {GAP_MARGIN} against z-scored inputs (TOST)",
        equivalence_verdict(layer, p_tost, layer.p_value, GAP_MARGIN), layer.estimate, layer.ci,
        layer.n_draws, layer.n_seeds,
    ))
    return StudyResult("claims_overfitting", [int(d) for d in draws], int(seeds), table, claims)


#: Chapter 10's readings of the ICS probe, as :func:`direction_claims` reads them (one Holm family).
ICS_READS: tuple[tuple[str, str, str, str, int, float], ...] = (
    ("bn-stills-moments", "BN makes the probed layer's input mean move less per step",
     "mean_shift", "BN|plain", -1, 0.05),
    ("bn-lowers-gradient-ics", "BN lowers the gradient-based internal covariate shift",
     "ics", "BN|plain", -1, 0.05),
    ("noisy-bn-lowest-ics", "noisy BN, with the most moment shift, has lower gradient ICS than BN",
     "ics", "noisy BN|BN", -1, 0.05),
    ("noisy-bn-faster-early", "noisy BN has a lower loss than plain over the first 50 steps",
     "loss_first", "noisy BN|plain", -1, 0.05),
    ("bn-smoother-landscape", "BN lowers the largest loss jump along the gradient",
     "loss_range_max", "BN|plain", -1, 0.05),
    ("bn-lower-final-loss", "BN ends at a lower loss than plain (mean over the last 50 steps)",
     "loss_last", "BN|plain", -1, 0.05),
    ("bn-lower-beta-max", "BN lowers the largest effective smoothness constant (beta-hat) of a run",
     "beta_max", "BN|plain", -1, 0.05),
    # The page's earlier single-run claim, kept as a reading: the chapter calls it inconclusive.
    ("noisy-bn-lower-final-loss", "noisy BN still ends at a lower loss than plain (last 50 steps)",
     "loss_last", "noisy BN|plain", -1, 0.05),
)


def ics_verdicts(table: pd.DataFrame) -> list[Claim]:
    """Chapter 10's readings as verdicts, from a table of :func:`~regnorm_lab.studies.norm_ics.ics_study`.

    The page calls this on the runs it already trained, so its verdicts are
    the ones ``run claims_ics`` prints for the book's draws.
    """
    return direction_claims(table, "model", ICS_READS)


def ics_claims(draws: Sequence[int], seeds: int, *, scheduler: Any = None, progress: bool = True) -> StudyResult:
    """Chapter 10's readings of the ICS probe on ``draws`` × ``seeds`` (three networks per run)."""
    study = ics_study(draws, range(seeds))
    return StudyResult("claims_ics", [int(d) for d in draws], int(seeds), study.table, ics_verdicts(study.table))


def bn_gradient_claims(draws: Sequence[int], seeds: int, *, scheduler: Any = None, progress: bool = True) -> StudyResult:
    """Chapter 05's caveat on ``draws``: the first/last hidden gradient ratio of BN at depth 40 exceeds 10.

    Each draw is one run (its own data and weights); ``seeds`` is ignored
    (the weights are seeded by the draw), and reported as 1.
    """
    table = gradient_ratio_study(depths=(20, 40), runs=draws, networks=(("batch", "default"), ("none", "he")))
    claims = []
    for depth, threshold in ((20, 3.0), (40, 10.0)):
        sel = table[(table.depth == depth) & (table.norm == "batch")].set_index("run")
        per_run = np.log(sel.ratio / threshold)  # > 0 when the ratio exceeds the threshold
        per_run.index = pd.MultiIndex.from_arrays([per_run.index, np.zeros(len(per_run), int)], names=["draw", "seed"])
        e = draw_t_interval(per_run)
        verdict = direction_verdict(e, 1, e.p_value, 0.0)
        claims.append(Claim(f"bn-gradient-ratio-depth-{depth}",
                            f"at depth {depth}, BN's first-hidden gradient is over {threshold:g}x the last one's "
                            "(estimate: mean log ratio over the threshold)",
                            verdict, e.estimate, e.ci, e.n_draws, 1))
    return StudyResult("claims_bn_gradients", [int(d) for d in draws], 1, table, claims)


register_study("claims_overfitting", overfitting_claims, default_draws=OVF_DRAWS, default_seeds=len(OVF_SEEDS),
               description="ch 13, claims 5-6: hidden-layer BN vs input BN vs z-scoring against overfitting")
register_study("claims_ics", ics_claims, default_draws=ICS_DRAWS, default_seeds=len(ICS_SEEDS),
               description="ch 10: internal covariate shift probes (plain / BN / noisy BN)")
register_study("claims_bn_gradients", bn_gradient_claims, default_draws=BOOK_RATIO_RUNS, default_seeds=1,
               description="ch 05: BN's gradients explode with depth at initialisation (Yang et al. 2019)")
