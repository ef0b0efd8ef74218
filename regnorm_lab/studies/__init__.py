"""Every experiment the book runs: synthetic data, models, trainers and study designs.

Modules:

- ``datasets``: synthetic regression/classification tasks (nothing is downloaded);
- ``training``: the single-model trainer (``train_mlp``, ``train_many``);
- ``batched``: K models of the seed-003 MLP trained at once (``train_batched``),
  with the single trainer's random streams;
- ``design``: a study design (cells x data draws x seeds) run into a tidy
  table, locally or on a Dask cluster (``run_design``);
- ``analysis``: cell distributions, paired effects and interactions with
  intervals over data draws, TOST, Holm, verdicts;
- ``registry``: the named studies (``register_study``, ``run_study``);
  ``python -m regnorm_lab.studies list | run NAME`` re-runs any of them;
- ``seed003``: the student's question, L1/L2 x dropout (chapter 11);
- ``claims_*``, ``norm_*``: the studies behind the claims ledger (chapter 13)
  and chapters 05, 10 and 12, registered like ``seed003``;
- ``variance_shift``: dropout before BN, measured (chapter 11);
- ``further``, ``further_norm``: the closed forms and small models of the
  "Going further" pages (15-20);
- ``experiments``: the regularization experiments of chapters 04, 09 and 13;
- ``experiments_norm``: the normalization experiments of chapters 05, 10 and 12.

The technique modules of ``regnorm_lab`` never import this package.
"""

__all__: list[str] = []
