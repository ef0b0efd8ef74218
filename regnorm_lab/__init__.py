"""regnorm_lab: the reference implementations behind the regnorm-lab course.

Every function a student writes in the graded notebooks (see the exercise API
contract) is importable from here under the same name, e.g.
``from regnorm_lab import batchnorm_forward``. One module per topic:

========================  ==========================================  ==========
module                    what                                        exercise
========================  ==========================================  ==========
``penalties``             L1, L2, Elastic Net, gradients, prox step   ps01
``dropout``               inverted dropout (numpy, torch module)      ps02
``feature_scaling``       min-max and z-score, fit on train only      ps03
``batch_norm``            batch norm (numpy, torch BatchNorm1d)       ps04
``layer_instance_norm``   layer, instance, group norm                 ps05, ps07
``rms_norm``              RMS norm                                    ps07
``combining``             the seed-003 model, R², kernel penalties    ps06
========================  ==========================================  ==========

Each module opens with its maths core, the short functions the book shows
(``batchnorm_train_forward``, ``layernorm_core_backward``, ...); the checked
contract functions below it validate their arguments and call that core.
Argument checks shared by the modules live in ``_validation``, the
numerically careful mean and variance in ``stats``.
"""

from __future__ import annotations

import sys as _sys

from .batch_norm import *  # noqa: F401,F403
from .combining import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .feature_scaling import *  # noqa: F401,F403
from .layer_instance_norm import *  # noqa: F401,F403
from .penalties import *  # noqa: F401,F403
from .rms_norm import *  # noqa: F401,F403

__version__ = "0.1.0"

# Collected from sys.modules: the function ``rms_norm`` shadows its module's
# attribute on the package, so ``regnorm_lab.rms_norm`` is the function.
_TOPIC_MODULES = (
    "batch_norm",
    "combining",
    "dropout",
    "feature_scaling",
    "layer_instance_norm",
    "penalties",
    "rms_norm",
)
__all__ = sorted({name for mod in _TOPIC_MODULES for name in _sys.modules[f"{__name__}.{mod}"].__all__})
