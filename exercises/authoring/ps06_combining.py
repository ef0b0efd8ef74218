"""ps06_combining: the description `python -m regnorm_lab.course build-sources` turns into the source notebook.

Same template as ps01 (see ``regnorm_lab/course/authoring.py``): ``CELLS`` (the
notebook), ``MISTAKES`` (function -> (wrong answer cell, the test cells it must
fail)) and ``SHORTCUTS`` (answer cells that delegate instead of doing the work).
The tests in ``tests/course/test_ps06_combining.py`` plant these as submissions.

Besides the three autograded functions, the student trains the question's model
(seed 003: BatchNorm on the input, L1 on the kernels, optional dropout) with a few
combinations of L1/L2 and dropout, using their own functions, and answers a
written question graded by hand. The experiment is small (4 runs of about half a
second each on one CPU thread), so it fits well inside the per-cell time limit.

The notebook imports numpy, torch and the probe only: the task's data and the
seeded dropout are written out in read-only cells (the same draws as
``regnorm_lab.studies.datasets.make_regression_task`` and ``regnorm_lab.dropout.Dropout``),
so the grading kernel can run without the reference package (``c.Sandbox.hide_reference``).
"""

from regnorm_lab.course import authoring
from regnorm_lab.booktools import book_url
from regnorm_lab.course.authoring import Cell, answer, markdown, probe_test, setup

BOOK = book_url("11_combining.md")  # the address comes from _config.yml (repository.url)
WRITTEN_POINTS = 4.0

A = "ps06_combining"
SETUP = """\
# Setup (read-only): the libraries and the course's probe, which runs your functions on the test inputs.
import numpy as np
import torch
from torch import nn
from regnorm_lab.course import probe
P = probe.session("ps06_combining")

torch.set_num_threads(1)  # these small models train fastest on one thread"""

TASK_DATA = '''\
# The task (read-only): a synthetic regression problem drawn from an explicit numpy Generator.
class RegressionTask:
    """Train and validation arrays (float32); tensors() returns torch copies."""

    def __init__(self, X_train, y_train, X_val, y_val):
        self.X_train, self.y_train, self.X_val, self.y_val = X_train, y_train, X_val, y_val
        self.n_features = X_train.shape[1]

    def tensors(self):
        return tuple(torch.tensor(a) for a in (self.X_train, self.y_train, self.X_val, self.y_val))


def make_regression_task(n_train=256, n_val=2048, n_features=20, n_informative=6, noise=0.3, *, rng):
    """y: a smooth non-linear function of n_informative latent N(0, 1) columns, scaled to unit variance, plus noise.
    X: every latent column on its own scale (1e-2 to 1e3) with an offset, so the input BatchNorm matters."""
    idx = rng.choice(n_features, size=n_informative, replace=False)  # which columns matter
    coef = rng.normal(0.0, 1.0, size=(n_informative, 3))
    scale = 10.0 ** rng.uniform(-2.0, 3.0, size=n_features)
    offset = rng.normal(0.0, 3.0, size=n_features) * scale
    z = rng.standard_normal((n_train + n_val, n_features))
    f = np.zeros(len(z))
    for j in range(n_informative):  # a sine ridge and a linear term per column, a product with the next one
        a = z[:, idx[j]]
        f += coef[j, 0] * np.sin(1.5 * a) + coef[j, 1] * a
        if j % 2 == 0:
            f += 0.5 * coef[j, 2] * a * z[:, idx[(j + 1) % n_informative]]
    f = (f - f.mean()) / f.std()
    y = (f + noise * rng.standard_normal(len(z))).astype(np.float32)
    X = (z * scale + offset).astype(np.float32)
    return RegressionTask(X[:n_train], y[:n_train], X[n_train:], y[n_train:])'''

TRAINING_HELPER = '''\
# Training helper (read-only): trains YOUR build_model with YOUR weight_penalty and scores it with YOUR r2_score.
import math


class SeededDropout(nn.Dropout):
    """nn.Dropout whose training mask is drawn from an explicit torch.Generator (as torch's own kernel does)."""

    def __init__(self, p, generator):
        super().__init__(p)
        self.generator = generator

    def forward(self, x):
        if not self.training or self.p in (0.0, 1.0):
            return super().forward(x)  # eval: the input itself; p = 1: zeros
        keep = 1.0 - self.p
        return x * torch.empty_like(x).bernoulli_(keep, generator=self.generator).div_(keep)


def fit_and_score(task, l1=0.0, l2=0.0, dropout=0.0, *, epochs=40, lr=1e-2, batch_size=64, seed=0):
    """Train the question's MLP on ``task`` (Adam, MSE + weight_penalty) and return (train R², validation R²)."""
    g = torch.Generator().manual_seed(seed)
    model = build_model(task.n_features, dropout=dropout)
    # Reproducible without a global seed: redraw the Linear weights (torch's default
    # distributions) and the dropout masks from g, so the same seed gives the same run.
    with torch.no_grad():
        for i, layer in enumerate(model):
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=g)
                if layer.bias is not None:
                    bound = 1.0 / math.sqrt(layer.in_features)
                    nn.init.uniform_(layer.bias, -bound, bound, generator=g)
            elif isinstance(layer, nn.Dropout):
                model[i] = SeededDropout(layer.p, generator=g)
    X, y, X_val, y_val = task.tensors()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)  # the question's optimizer and learning rate
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(X), generator=g)
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2:  # BatchNorm cannot normalise a batch of one row
                continue
            loss = nn.functional.mse_loss(model(X[idx]).reshape(-1), y[idx]) + weight_penalty(model, l1, l2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()  # running BatchNorm statistics, no dropout
    with torch.no_grad():
        return r2_score(y, model(X).reshape(-1)), r2_score(y_val, model(X_val).reshape(-1))'''

EXPERIMENT = '''\
# Your experiment: edit the combinations, add seeds (fit_and_score(..., seed=1)), print or plot.
task = make_regression_task(n_train=256, n_val=1024, rng=np.random.default_rng(3))
results = {}
for l1, l2, p in [(0.0, 0.0, 0.0), (1e-3, 0.0, 0.0), (0.0, 0.0, 0.2), (1e-3, 0.0, 0.2)]:
    train_r2, val_r2 = fit_and_score(task, l1, l2, p)
    results[(l1, l2, p)] = val_r2
    print(f"l1={l1:<6g} l2={l2:<6g} dropout={p:<4g} train R2={train_r2:6.3f}  validation R2={val_r2:6.3f}")'''

WRITTEN_PROMPT = f"""
    ## 5. Written answer (graded by hand, {WRITTEN_POINTS:g} points)

    The question that starts this course asks: *is it preferable to combine L1/L2
    regularization with dropout layers, or to use them separately?* and, in a comment,
    *would having both in the model make one method overwrite the other?*

    In the cell below, answer in a few sentences: **do L1/L2 and dropout cancel each other
    when combined, and what did your own runs show?** Explain how each one acts on the
    network (what it changes, when it is active), quote the train and validation R² of
    your runs, and say how sure you are of the differences (how much do they move with
    another seed?). The book chapter's experiment has many more runs to compare with.
"""

WRITTEN_ANSWER = """
    ### BEGIN SOLUTION
    They do not cancel: they act through different mechanisms, and their effects add up.
    L1/L2 add a term to the loss (Keras `kernel_regularizer`, here `weight_penalty`) whose
    gradient pulls every kernel weight towards 0 at every step: L1 with a constant pull that
    makes many weights exactly 0 (a sparse first layer ignores distractor inputs), L2 in
    proportion to the weight. Dropout changes nothing in the loss; during training it
    zeroes random hidden units, so no unit can rely on particular others (an implicit
    ensemble of thinned networks), and it is switched off at evaluation. Neither undoes the
    other; together they are simply *more* regularization, so each strength usually has to
    be a bit smaller than when used alone, and too much of both underfits (train and
    validation R² both drop).

    In my runs (seed 0, 40 epochs) the unregularized model fits the training set almost
    perfectly but has the lowest validation R²; L1 alone and dropout alone each lower the
    train R² and raise the validation R², and the combination lowered the gap most and
    scored best here, as in the question. One seed is weak evidence: with other seeds the
    validation R² moves by a few hundredths, so small differences between the combinations
    are not reliable; the chapter repeats each configuration over several seeds.
    ### END SOLUTION
"""

_written = getattr(authoring, "written", None)
_free = getattr(authoring, "free", None)


def _written_cell() -> Cell:
    """The manually graded answer cell, or (until the builder has one) an ungraded prompt."""
    if _written is not None:
        return _written("written_answer", WRITTEN_POINTS, WRITTEN_ANSWER)
    return markdown("*Write your answer here (a markdown cell; it is graded by hand).*")


def _experiment_cell() -> Cell:
    """An editable code cell, or (until the builder has one) a read-only cell the student can copy."""
    if _free is not None:
        return _free(EXPERIMENT)
    return setup(EXPERIMENT, grade_id="experiment")


CELLS = [
    markdown(f"""
        # ps06 · Combining regularization and normalization: the question's model

        This assignment goes with the book chapter
        [Choosing between and combining them]({BOOK}), which answers the question that
        starts the course: an MLP regressor with `BatchNormalization` on its input, an L1
        `kernel_regularizer` and (commented out) `Dropout` layers, scored by R².
        You write its three pieces in PyTorch, train it with a few combinations of L1/L2
        and dropout, and explain what you see.

        | function | returns |
        |---|---|
        | `r2_score(y_true, y_pred)` | a Python float, as `sklearn.metrics.r2_score` for 1-D tensors |
        | `weight_penalty(model, l1=0.0, l2=0.0)` | a differentiable scalar tensor: `l1 * sum|W| + l2 * sum W**2` over the weight matrices of the model's `nn.Linear` layers only (no biases, no normalisation parameters), as Keras' `kernel_regularizer` |
        | `build_model(n_features, hidden=128, dropout=0.0, batch_norm=True)` | an `nn.Sequential`: `BatchNorm1d(n_features)` (when `batch_norm`), `Linear(n_features, hidden)`, `ReLU`, `Dropout(dropout)` (when `dropout > 0`), `Linear(hidden, hidden)`, `ReLU`, `Dropout(dropout)` (when `dropout > 0`), `Linear(hidden, 1)` |

        Rules (they are graded):

        * Never modify an argument in place.
        * Write `r2_score` yourself with tensor operations (a function that only calls
          `sklearn.metrics` earns no points), and none of the three may call `regnorm_lab`
          (the course's reference).

        Each function has its own answer cell (replace `raise NotImplementedError()`),
        followed by test cells. Each test cell checks one behaviour; the visible checks help
        you debug, and more checks of the same behaviour are hidden and run when your work is
        graded. The written answer at the end is graded by hand. Run
        **Kernel → Restart & Run All** before you submit.
    """),
    setup(SETUP),
    markdown("""
        ## 1. `r2_score(y_true, y_pred)`

        $R^2 = 1 - \\frac{\\sum_i (y_i - \\hat y_i)^2}{\\sum_i (y_i - \\bar y)^2}$: 1 is perfect,
        0 is as good as always predicting the mean $\\bar y$, and it is negative for worse
        predictions. Return a Python `float`, computed in float64 (float32 sums lose digits).
        As scikit-learn, a constant `y_true` (zero denominator) gives `1.0` when the
        predictions are exact and `0.0` otherwise. Predictions straight from a model
        (`requires_grad=True`) must work too: the score is a report, not part of the graph.
    """),
    answer("r2_score", '''
        def r2_score(y_true, y_pred):
            """Coefficient of determination of 1-D tensors, as sklearn.metrics.r2_score, as a Python float."""
            ### BEGIN SOLUTION
            t = torch.as_tensor(y_true).detach().reshape(-1).to(torch.float64)
            p = torch.as_tensor(y_pred).detach().reshape(-1).to(torch.float64)
            ss_res = float(((t - p) ** 2).sum())
            ss_tot = float(((t - t.mean()) ** 2).sum())
            if ss_tot == 0.0:
                return 1.0 if ss_res == 0.0 else 0.0
            return 1.0 - ss_res / ss_tot
            ### END SOLUTION
    '''),
    probe_test("test_r2_score_values", "r2_score matches sklearn.metrics.r2_score", 3, function="r2_score", assignment=A),
    probe_test("test_r2_score_float", "r2_score returns a Python float", 1, function="r2_score", assignment=A),
    probe_test("test_r2_score_constant_target", "r2_score of a constant y_true is 1.0 for exact predictions and 0.0 otherwise, as scikit-learn", 1, function="r2_score", assignment=A),
    probe_test("test_r2_score_model_output", "r2_score works on predictions that require grad (straight from a model)", 1, function="r2_score", assignment=A),
    probe_test("test_r2_score_no_inplace", "r2_score leaves y_true and y_pred unchanged", 1, function="r2_score", assignment=A),
    markdown("""
        ## 2. `weight_penalty(model, l1=0.0, l2=0.0)`

        Keras' `kernel_regularizer=regularizers.l1_l2(l1, l2)` on each `Dense` layer, in
        PyTorch: $\\ell_1 \\sum |W| + \\ell_2 \\sum W^2$ summed over the **weight matrices of
        the model's `nn.Linear` layers** (find them with `model.modules()`), not their biases
        and not BatchNorm's `weight`/`bias`. Return a 0-d tensor that autograd can
        differentiate (no `.item()`, no numpy), to be added to the loss.
    """),
    answer("weight_penalty", '''
        def weight_penalty(model, l1=0.0, l2=0.0):
            """l1 * sum|W| + l2 * sum W**2 over the nn.Linear weight matrices of model, as a 0-d tensor."""
            ### BEGIN SOLUTION
            total = torch.zeros(())
            for module in model.modules():
                if isinstance(module, nn.Linear):
                    total = total + l1 * module.weight.abs().sum() + l2 * (module.weight ** 2).sum()
            return total
            ### END SOLUTION
    '''),
    probe_test("test_weight_penalty_value", "weight_penalty returns l1 * sum|W| + l2 * sum W**2 over the Linear weights", 3, function="weight_penalty", assignment=A),
    probe_test("test_weight_penalty_only_linear_weights", "weight_penalty leaves out biases and normalisation parameters", 2, function="weight_penalty", assignment=A),
    probe_test("test_weight_penalty_differentiable", "weight_penalty is a 0-d tensor whose gradient is l1 * sign(W) + 2 * l2 * W", 2, function="weight_penalty", assignment=A),
    probe_test("test_weight_penalty_no_inplace", "weight_penalty leaves the model's parameters unchanged", 1, function="weight_penalty", assignment=A),
    markdown("""
        ## 3. `build_model(n_features, hidden=128, dropout=0.0, batch_norm=True)`

        The question's Keras model as an `nn.Sequential`, with torch's own layers:
        `BatchNorm1d(n_features)` (only when `batch_norm`), `Linear(n_features, hidden)`,
        `ReLU()`, `Dropout(dropout)` (only when `dropout > 0`), `Linear(hidden, hidden)`,
        `ReLU()`, `Dropout(dropout)` (only when `dropout > 0`), `Linear(hidden, 1)`.
        Keras' `Dense(128, activation='relu')` is a `Linear` followed by a `ReLU`; its
        commented-out `Dropout` layers sit after each hidden layer's activation.
    """),
    answer("build_model", '''
        def build_model(n_features, hidden=128, dropout=0.0, batch_norm=True):
            """The question's MLP regressor: [BatchNorm1d] -> (Linear, ReLU, [Dropout]) x 2 -> Linear(hidden, 1)."""
            ### BEGIN SOLUTION
            layers = [nn.BatchNorm1d(n_features)] if batch_norm else []
            layers += [nn.Linear(n_features, hidden), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            layers.append(nn.Linear(hidden, 1))
            return nn.Sequential(*layers)
            ### END SOLUTION
    '''),
    probe_test("test_build_model_layers", "build_model's default model is BatchNorm1d, Linear, ReLU, Linear, ReLU, Linear with the right sizes", 3, function="build_model", assignment=A),
    probe_test("test_build_model_dropout", "build_model with dropout > 0 puts a Dropout(p) after each hidden ReLU", 2, function="build_model", assignment=A),
    probe_test("test_build_model_no_batch_norm", "build_model with batch_norm=False has no BatchNorm layer and starts with Linear", 1, function="build_model", assignment=A),
    probe_test("test_build_model_forward", "build_model's model maps (N, n_features) to (N, 1) and is returned in training mode", 1, function="build_model", assignment=A),
    markdown("""
        ## 4. Train the question's model

        The read-only cell below defines `fit_and_score(task, l1, l2, dropout)`: it trains
        **your** `build_model` with **your** `weight_penalty` added to the MSE loss (Adam,
        learning rate 0.01, as in the question) on a synthetic regression task made by
        `make_regression_task` in the cell before it (20 inputs on very different scales,
        6 of them informative, noise; the book chapter's task), and scores it with **your**
        `r2_score`. Runs are reproducible: the same `seed` gives the same numbers.

        The next cell runs four combinations: nothing, L1 only, dropout only, and both.
        Change them, add L2 (`l2=...`) or other seeds (`seed=1, 2, ...`) in new cells; each run
        takes about half a second. Then answer the question below with your numbers.
    """),
    setup(TASK_DATA, grade_id="task_data"),
    setup(TRAINING_HELPER, grade_id="training_helper"),
    _experiment_cell(),
    markdown(WRITTEN_PROMPT),
    _written_cell(),
]

# One wrong answer per function and the test cells it must fail (all other cells keep their points).
MISTAKES = {
    "r2_score": ('''
def r2_score(y_true, y_pred):
    t, p = y_true.detach().double(), y_pred.detach().double()
    ss_tot = ((t - t.mean()) ** 2).sum()
    if ss_tot == 0:
        return torch.tensor(1.0 if bool((t == p).all()) else 0.0, dtype=torch.float64)
    return 1 - ((t - p) ** 2).sum() / ss_tot  # a 0-d tensor, not a Python float
''', {"test_r2_score_float"}),
    "weight_penalty": ('''
def weight_penalty(model, l1=0.0, l2=0.0):
    total = torch.zeros(())
    for param in model.parameters():  # every parameter: biases and BatchNorm's too
        total = total + l1 * param.abs().sum() + l2 * (param ** 2).sum()
    return total
''', {"test_weight_penalty_only_linear_weights"}),
    "build_model": ('''
def build_model(n_features, hidden=128, dropout=0.0, batch_norm=True):
    layers = [nn.BatchNorm1d(n_features)] if batch_norm else []
    layers += [nn.Linear(n_features, hidden), nn.ReLU()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(hidden, hidden), nn.ReLU()]  # forgot the second Dropout
    layers.append(nn.Linear(hidden, 1))
    return nn.Sequential(*layers)
''', {"test_build_model_dropout"}),
}

# Answers that delegate instead of doing the work; weight_penalty stays an honest answer.
SHORTCUTS = {
    "r2_score": '''
from sklearn.metrics import r2_score as _sklearn_r2
def r2_score(y_true, y_pred):
    return float(_sklearn_r2(y_true.detach().numpy(), y_pred.detach().numpy()))
''',
    "build_model": '''
def build_model(n_features, hidden=128, dropout=0.0, batch_norm=True):
    from regnorm_lab.combining import build_model as reference
    return reference(n_features, hidden, dropout, batch_norm)
''',
}
