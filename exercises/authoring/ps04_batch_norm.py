"""ps04_batch_norm: the description `python -m regnorm_lab.course build-sources` turns into the source notebook.

Same template as ps01 (see ``regnorm_lab/course/authoring.py``): ``CELLS`` (the
notebook), ``MISTAKES`` (function -> (wrong answer cell, the test cells it must
fail)) and ``SHORTCUTS`` (answer cells that delegate instead of doing the work).
The tests in ``tests/course/test_ps04_batch_norm.py`` plant these as submissions.

The backward tests never look inside a student's ``cache``: in the kernel they call
the student's forward, hand its cache to the student's backward, and send back the
gradients; the grader compares them with the reference's forward+backward on the same
inputs (``regnorm_lab.course.cases.ps04_batch_norm``).
"""

from regnorm_lab.booktools import book_url
from regnorm_lab.course.authoring import answer, markdown, probe_setup, probe_test


A = "ps04_batch_norm"
BOOK = book_url("07_batch_norm.md")  # the address comes from _config.yml (repository.url)

CELLS = [
    markdown(f"""
        # ps04 · Batch normalization: forward and backward

        This assignment goes with the book chapter
        [Common normalization approaches I: batch normalization]({BOOK}).
        You write batch normalization for a batch `x` of shape `(N, D)` in numpy,
        with the semantics of `torch.nn.BatchNorm1d`:

        | function | returns |
        |---|---|
        | `batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5)` | `(out, cache, new_running_mean, new_running_var)` |
        | `batchnorm_backward(dout, cache)` | `(dx, dgamma, dbeta)` for a training-mode forward |

        Training mode normalises each feature (column) with the batch mean and the
        **biased** batch variance (divide by `N`), then scales by `gamma` and shifts by
        `beta`. The running statistics are updated as torch does:
        `new = (1 - momentum) * old + momentum * batch_stat`, where the batch statistic
        for the running variance is the **unbiased** variance (divide by `N - 1`).
        Careful: Keras' `momentum` means the opposite (the weight of the *old* value).
        Evaluation mode (`training=False`) normalises with `running_mean` and
        `running_var` and returns them unchanged.

        Rules (they are graded):

        * Never modify an argument in place (`x`, `gamma`, `beta`, the running statistics, `dout`).
        * Training with `N == 1` raises `ValueError` (as torch: one value has no variance);
          `eps <= 0` or `momentum` outside `[0, 1]` raise `ValueError` whose message names
          the argument (`eps`, `momentum`).
        * `cache` is yours: put in it whatever your backward pass needs. The tests only
          hand it from your forward to your backward.
        * Write the computation yourself with numpy. A function that only calls
          `torch.nn.functional.batch_norm`, `torch.nn.BatchNorm1d` or `regnorm_lab`
          (the course's reference) earns no points.

        Each function has its own answer cell (replace `raise NotImplementedError()`),
        followed by test cells. Each test cell checks one behaviour; the visible
        checks help you debug, and more checks of the same behaviour are hidden and
        run when your work is graded. Run **Kernel → Restart & Run All** before you
        submit.
    """),
    probe_setup(A),
    markdown("""
        ## 1. `batchnorm_forward`

        For each feature $j$, in training mode,

        $$\\mu_j = \\frac{1}{N}\\sum_n x_{nj}, \\qquad
          \\sigma_j^2 = \\frac{1}{N}\\sum_n (x_{nj} - \\mu_j)^2, \\qquad
          \\hat x_{nj} = \\frac{x_{nj} - \\mu_j}{\\sqrt{\\sigma_j^2 + \\varepsilon}}, \\qquad
          y_{nj} = \\gamma_j \\hat x_{nj} + \\beta_j ,$$

        and the running statistics become
        $(1-m)\\,\\text{old} + m\\,\\mu_j$ and $(1-m)\\,\\text{old} + m\\,\\frac{N}{N-1}\\sigma_j^2$
        with $m$ = `momentum`. In evaluation mode use the running statistics in place of
        $\\mu_j, \\sigma_j^2$ and return them unchanged (copies are fine).
    """),
    answer("batchnorm_forward", '''
        def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
            """Batch norm of x (N, D) as torch.nn.BatchNorm1d; returns (out, cache, new_running_mean, new_running_var)."""
            ### BEGIN SOLUTION
            if eps <= 0:
                raise ValueError(f"eps must be > 0, got {eps}")
            if not 0.0 <= momentum <= 1.0:
                raise ValueError(f"momentum must be in [0, 1], got {momentum}")
            x = np.asarray(x, dtype=np.float64)
            running_mean = np.asarray(running_mean, dtype=np.float64)
            running_var = np.asarray(running_var, dtype=np.float64)
            n = x.shape[0]
            if training:
                if n < 2:
                    raise ValueError(f"x must have more than 1 sample (N >= 2) in training mode, got N={n}")
                mean = x.mean(axis=0)
                var = ((x - mean) ** 2).mean(axis=0)  # biased: this is what normalises
                new_running_mean = (1 - momentum) * running_mean + momentum * mean
                new_running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)  # unbiased
            else:
                mean, var = running_mean, running_var
                new_running_mean, new_running_var = running_mean.copy(), running_var.copy()
            inv_std = 1.0 / np.sqrt(var + eps)
            x_hat = (x - mean) * inv_std
            out = gamma * x_hat + beta
            cache = {"x_hat": x_hat, "inv_std": inv_std, "gamma": np.asarray(gamma, dtype=np.float64)}
            return out, cache, new_running_mean, new_running_var
            ### END SOLUTION
    '''),
    probe_test("test_batchnorm_forward_training", "batchnorm_forward in training mode normalises each feature with the batch mean and biased variance", 3, function="batchnorm_forward", assignment=A),
    probe_test("test_batchnorm_forward_running_mean", "batchnorm_forward updates the running mean as (1 - momentum) * old + momentum * batch mean", 1, function="batchnorm_forward", assignment=A),
    probe_test("test_batchnorm_forward_running_var", "batchnorm_forward updates the running variance with the unbiased batch variance", 2, function="batchnorm_forward", assignment=A),
    probe_test("test_batchnorm_forward_eval", "batchnorm_forward in evaluation mode normalises with the running statistics and returns them unchanged", 2, function="batchnorm_forward", assignment=A),
    probe_test("test_batchnorm_forward_momentum", "batchnorm_forward uses the momentum it is given (0 keeps the old running mean, 1 replaces it)", 1, function="batchnorm_forward", assignment=A),
    probe_test("test_batchnorm_forward_errors", "batchnorm_forward rejects N == 1 in training, eps <= 0 and momentum outside [0, 1] with a ValueError naming the argument", 2, function="batchnorm_forward", assignment=A),
    probe_test("test_batchnorm_forward_no_inplace", "batchnorm_forward leaves x, gamma, beta and the running statistics unchanged", 1, function="batchnorm_forward", assignment=A),
    markdown("""
        ## 2. `batchnorm_backward`

        Given the upstream gradient `dout` $= \\partial L / \\partial y$ and the `cache` of a
        training-mode forward, return $\\partial L/\\partial x$, $\\partial L/\\partial \\gamma$
        and $\\partial L/\\partial \\beta$. Remember that in training mode $\\mu$ and $\\sigma^2$
        depend on every $x_{nj}$ of the column, so $\\partial L/\\partial x$ is **not** just
        $\\gamma\\,$`dout`$/\\sqrt{\\sigma^2+\\varepsilon}$. A compact form
        (with $g = \\gamma \\cdot$ `dout`, means over the batch):

        $$\\frac{\\partial L}{\\partial x} = \\frac{1}{\\sqrt{\\sigma^2+\\varepsilon}}
          \\Big(g - \\overline{g} - \\hat x\\, \\overline{g\\,\\hat x}\\Big).$$

        Check yourself with central differences:
        `regnorm_lab.gradcheck.numerical_gradient_array(lambda z: batchnorm_forward(z, gamma, beta, rm, rv)[0], x, dout)`.
    """),
    answer("batchnorm_backward", '''
        def batchnorm_backward(dout, cache):
            """Gradients (dx, dgamma, dbeta) of a training-mode batchnorm_forward, from its cache."""
            ### BEGIN SOLUTION
            x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
            dout = np.asarray(dout, dtype=np.float64)
            dbeta = dout.sum(axis=0)
            dgamma = (dout * x_hat).sum(axis=0)
            g = dout * gamma
            dx = inv_std * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))
            return dx, dgamma, dbeta
            ### END SOLUTION
    '''),
    probe_test("test_batchnorm_backward_dx", "batchnorm_backward returns the gradient with respect to x (batch statistics depend on x)", 4, function="batchnorm_backward", assignment=A),
    probe_test("test_batchnorm_backward_dgamma", "batchnorm_backward returns dgamma = sum over the batch of dout * x_hat", 1, function="batchnorm_backward", assignment=A),
    probe_test("test_batchnorm_backward_dbeta", "batchnorm_backward returns dbeta = sum over the batch of dout", 1, function="batchnorm_backward", assignment=A),
    probe_test("test_batchnorm_backward_no_inplace", "batchnorm_backward leaves dout unchanged", 1, function="batchnorm_backward", assignment=A),
]

# One wrong answer per function and the test cells it must fail (all other cells keep their points).
MISTAKES = {
    "batchnorm_forward": ('''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    x = np.asarray(x, dtype=float)
    if training:
        if x.shape[0] < 2:
            raise ValueError("x needs N >= 2 in training mode")
        mean, var = x.mean(axis=0), x.var(axis=0)
        new_mean = (1 - momentum) * running_mean + momentum * mean
        new_var = (1 - momentum) * running_var + momentum * var  # biased: torch uses the unbiased variance here
    else:
        mean, var = running_mean, running_var
        new_mean, new_var = np.copy(running_mean), np.copy(running_var)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma}, new_mean, new_var
''', {"test_batchnorm_forward_running_var"}),
    "batchnorm_backward": ('''
def batchnorm_backward(dout, cache):
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    dx = dout * gamma * inv_std  # treats the batch mean and variance as constants
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
''', {"test_batchnorm_backward_dx"}),
}

# Answers that delegate instead of doing the work (the grader must catch each one).
SHORTCUTS = {
    "batchnorm_forward": '''
import torch
import torch.nn.functional as F
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    t = lambda a: torch.tensor(np.asarray(a, dtype=np.float64))
    rm, rv, xt = t(running_mean), t(running_var), t(x)
    out = F.batch_norm(xt, rm, rv, t(gamma), t(beta), training=training, momentum=momentum, eps=eps)
    mean, var = xt.mean(0), xt.var(0, unbiased=False)
    x_hat = ((xt - mean) / torch.sqrt(var + eps)).numpy()
    return out.numpy(), {"x_hat": x_hat, "inv_std": 1 / np.sqrt(var.numpy() + eps), "gamma": gamma}, rm.numpy(), rv.numpy()
''',
    "batchnorm_backward": '''
from regnorm_lab import batch_norm as _bn
def batchnorm_backward(dout, cache):
    return _bn.batchnorm_backward(dout, dict(cache, training=True))
''',
}
