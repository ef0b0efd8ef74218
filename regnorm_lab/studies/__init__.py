"""Every experiment the book runs: synthetic data, models, trainers and study designs.

Modules:

- ``datasets``: synthetic regression/classification tasks (nothing is downloaded);
- ``training``: the single-model trainer (``train_mlp``, ``train_many``);
- ``experiments``: the regularization experiments of chapters 04, 09, 11 and 13;
- ``experiments_norm``: the normalization experiments of chapters 05, 10 and 12.

The technique modules of ``regnorm_lab`` never import this package.
"""

__all__: list[str] = []
