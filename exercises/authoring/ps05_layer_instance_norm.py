"""ps05_layer_instance_norm: the description `python -m regnorm_lab.course build-sources` turns into the source notebook.

Same template as ps01 (see ``regnorm_lab/course/authoring.py``): ``CELLS`` (the
notebook), ``MISTAKES`` (function -> (wrong answer cell, the test cells it must
fail)) and ``SHORTCUTS`` (answer cells that delegate instead of doing the work).
The tests in ``tests/course/test_ps05_layer_instance_norm.py`` plant these.

As in ps04, the backward tests never look inside a student's ``cache``: the
student's forward makes it and the student's backward consumes it.
"""

from regnorm_lab.booktools import book_url
from regnorm_lab.course.authoring import answer, markdown, probe_setup, probe_test

A = "ps05_layer_instance_norm"
BOOK = book_url("08_layer_instance_norm.md")  # the address comes from _config.yml (repository.url)


CELLS = [
    markdown(f"""
        # ps05 · Layer, instance and group normalization

        This assignment goes with the book chapter
        [Common normalization approaches II: layer, instance, group and RMS normalization]({BOOK}).
        Batch norm (ps04) normalises each feature over the *batch*; the three methods here
        normalise over parts of *one sample*, so they need no running statistics and behave
        the same in training and evaluation. All use the mean and the **biased** variance
        (divide by the number of values), like torch.

        | function | returns |
        |---|---|
        | `layernorm_forward(x, gamma, beta, eps=1e-5)` | `(out, cache)`; `x` is `(N, D)`, each row normalised over its `D` features, as `F.layer_norm(x, (D,), gamma, beta, eps)` |
        | `layernorm_backward(dout, cache)` | `(dx, dgamma, dbeta)` |
        | `instancenorm_forward(x, eps=1e-5)` | `out`; `x` is `(N, C, H, W)`, each `(n, c)` plane normalised over `H, W`, as `F.instance_norm(x, eps=eps)` |
        | `groupnorm_forward(x, num_groups, gamma, beta, eps=1e-5)` | `out`; as `F.group_norm(x, num_groups, gamma, beta, eps)` |

        Rules (they are graded):

        * Never modify an argument in place.
        * `groupnorm_forward` raises `ValueError` whose message names `num_groups` when
          `num_groups` does not divide the number of channels `C`.
        * `cache` is yours: the tests only hand it from your forward to your backward.
        * Write the computation yourself with numpy. A function that only calls
          `torch.nn.functional.layer_norm` / `instance_norm` / `group_norm`,
          `torch.layer_norm`, `nn.LayerNorm`, `nn.InstanceNorm2d`, `nn.GroupNorm` or
          `regnorm_lab` (the course's reference) earns no points.

        Each function has its own answer cell (replace `raise NotImplementedError()`),
        followed by test cells. Each test cell checks one behaviour; the visible
        checks help you debug, and more checks of the same behaviour are hidden and
        run when your work is graded. Run **Kernel → Restart & Run All** before you
        submit.
    """),
    probe_setup(A),
    markdown("""
        ## 1. `layernorm_forward(x, gamma, beta, eps=1e-5)`

        For each row $n$ of `x` (shape `(N, D)`):
        $\\mu_n = \\frac1D\\sum_j x_{nj}$, $\\sigma_n^2 = \\frac1D\\sum_j (x_{nj}-\\mu_n)^2$,
        $\\hat x_{nj} = (x_{nj}-\\mu_n)/\\sqrt{\\sigma_n^2+\\varepsilon}$ and
        $y_{nj} = \\gamma_j \\hat x_{nj} + \\beta_j$ (`gamma` and `beta` have shape `(D,)`).
    """),
    answer("layernorm_forward", '''
        def layernorm_forward(x, gamma, beta, eps=1e-5):
            """Layer norm of each row of x (N, D), as F.layer_norm(x, (D,), gamma, beta, eps); returns (out, cache)."""
            ### BEGIN SOLUTION
            x = np.asarray(x, dtype=np.float64)
            mean = x.mean(axis=-1, keepdims=True)
            var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # biased, as torch
            inv_std = 1.0 / np.sqrt(var + eps)
            x_hat = (x - mean) * inv_std
            gamma = np.asarray(gamma, dtype=np.float64)
            out = gamma * x_hat + np.asarray(beta, dtype=np.float64)
            return out, {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma}
            ### END SOLUTION
    '''),
    probe_test("test_layernorm_forward", "layernorm_forward normalises each row with its own mean and biased variance, then applies gamma and beta", 3, function="layernorm_forward", assignment=A),
    probe_test("test_layernorm_forward_eps", "layernorm_forward adds the eps it is given to the variance", 1, function="layernorm_forward", assignment=A),
    probe_test("test_layernorm_forward_no_inplace", "layernorm_forward leaves x, gamma and beta unchanged", 1, function="layernorm_forward", assignment=A),
    markdown("""
        ## 2. `layernorm_backward(dout, cache)`

        The same algebra as batch norm's backward pass, but the means run over the
        features of each row (axis 1) instead of over the batch; `dgamma` and `dbeta` still
        sum over the rows. With $g = \\gamma \\cdot$ `dout` and row means $\\overline{\\cdot}$:

        $$\\frac{\\partial L}{\\partial x} = \\frac{1}{\\sqrt{\\sigma_n^2+\\varepsilon}}
          \\Big(g - \\overline{g} - \\hat x\\, \\overline{g\\,\\hat x}\\Big).$$
    """),
    answer("layernorm_backward", '''
        def layernorm_backward(dout, cache):
            """Gradients (dx, dgamma, dbeta) of layernorm_forward, from its cache."""
            ### BEGIN SOLUTION
            x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
            dout = np.asarray(dout, dtype=np.float64)
            dbeta = dout.sum(axis=0)
            dgamma = (dout * x_hat).sum(axis=0)
            g = dout * gamma
            dx = inv_std * (g - g.mean(axis=-1, keepdims=True) - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
            return dx, dgamma, dbeta
            ### END SOLUTION
    '''),
    probe_test("test_layernorm_backward_dx", "layernorm_backward returns the gradient with respect to x (each row's statistics depend on that row)", 3, function="layernorm_backward", assignment=A),
    probe_test("test_layernorm_backward_dgamma", "layernorm_backward returns dgamma = sum over the rows of dout * x_hat", 1, function="layernorm_backward", assignment=A),
    probe_test("test_layernorm_backward_dbeta", "layernorm_backward returns dbeta = sum over the rows of dout", 1, function="layernorm_backward", assignment=A),
    probe_test("test_layernorm_backward_no_inplace", "layernorm_backward leaves dout unchanged", 1, function="layernorm_backward", assignment=A),
    markdown("""
        ## 3. `instancenorm_forward(x, eps=1e-5)`

        `x` has shape `(N, C, H, W)`. Each plane `x[n, c]` is normalised over its `H * W`
        positions with its own mean and biased variance. There is no `gamma`/`beta`
        (torch's `F.instance_norm` without weights).
    """),
    answer("instancenorm_forward", '''
        def instancenorm_forward(x, eps=1e-5):
            """Instance norm of x (N, C, H, W): each (n, c) plane over H, W, as F.instance_norm(x, eps=eps)."""
            ### BEGIN SOLUTION
            x = np.asarray(x, dtype=np.float64)
            axes = tuple(range(2, x.ndim))
            mean = x.mean(axis=axes, keepdims=True)
            var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
            return (x - mean) / np.sqrt(var + eps)
            ### END SOLUTION
    '''),
    probe_test("test_instancenorm_forward", "instancenorm_forward normalises each (sample, channel) plane over its positions", 3, function="instancenorm_forward", assignment=A),
    probe_test("test_instancenorm_forward_eps", "instancenorm_forward adds the eps it is given to the variance", 1, function="instancenorm_forward", assignment=A),
    probe_test("test_instancenorm_forward_no_inplace", "instancenorm_forward leaves x unchanged", 1, function="instancenorm_forward", assignment=A),
    markdown("""
        ## 4. `groupnorm_forward(x, num_groups, gamma, beta, eps=1e-5)`

        Split the `C` channels of each sample into `num_groups` groups of **consecutive**
        channels (`C // num_groups` each). Normalise each group over all its channels and
        positions together, then scale and shift each channel with its own `gamma[c]` and
        `beta[c]` (shape `(C,)`). `num_groups = 1` is layer norm over `(C, H, W)`;
        `num_groups = C` is instance norm (plus the affine step).
        If `num_groups` does not divide `C`, raise `ValueError` naming `num_groups`.
    """),
    answer("groupnorm_forward", '''
        def groupnorm_forward(x, num_groups, gamma, beta, eps=1e-5):
            """Group norm of x (N, C, H, W) with num_groups groups of consecutive channels, as F.group_norm."""
            ### BEGIN SOLUTION
            x = np.asarray(x, dtype=np.float64)
            n, c = x.shape[:2]
            if c % num_groups != 0:
                raise ValueError(f"num_groups={num_groups} must divide the number of channels C={c}")
            grouped = x.reshape(n, num_groups, -1)  # consecutive channels share a group
            mean = grouped.mean(axis=-1, keepdims=True)
            var = ((grouped - mean) ** 2).mean(axis=-1, keepdims=True)
            x_hat = ((grouped - mean) / np.sqrt(var + eps)).reshape(x.shape)
            per_channel = (1, c) + (1,) * (x.ndim - 2)
            return x_hat * np.reshape(gamma, per_channel) + np.reshape(beta, per_channel)
            ### END SOLUTION
    '''),
    probe_test("test_groupnorm_forward", "groupnorm_forward normalises each group of consecutive channels, then applies gamma and beta per channel", 3, function="groupnorm_forward", assignment=A),
    probe_test("test_groupnorm_forward_special_cases", "groupnorm_forward with one group is layer norm over (C, H, W); with C groups it is instance norm", 1, function="groupnorm_forward", assignment=A),
    probe_test("test_groupnorm_forward_errors", "groupnorm_forward rejects a num_groups that does not divide C with a ValueError naming num_groups", 1, function="groupnorm_forward", assignment=A),
    probe_test("test_groupnorm_forward_no_inplace", "groupnorm_forward leaves x, gamma and beta unchanged", 1, function="groupnorm_forward", assignment=A),
]

# One wrong answer per function and the test cells it must fail (all other cells keep their points).
MISTAKES = {
    "layernorm_forward": ('''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=float)
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + 1e-5)  # ignores the eps argument
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, {"x_hat": x_hat, "inv_std": inv_std, "gamma": np.asarray(gamma, dtype=float)}
''', {"test_layernorm_forward_eps"}),
    "layernorm_backward": ('''
def layernorm_backward(dout, cache):
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    g = dout * gamma
    dx = inv_std * (g - g.mean(axis=1, keepdims=True))  # forgot how the variance depends on x
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
''', {"test_layernorm_backward_dx"}),
    "instancenorm_forward": ('''
def instancenorm_forward(x, eps=1e-5):
    x -= x.mean(axis=(2, 3), keepdims=True)  # centres the caller's array in place
    return x / np.sqrt((x ** 2).mean(axis=(2, 3), keepdims=True) + eps)
''', {"test_instancenorm_forward_no_inplace"}),
    "groupnorm_forward": ('''
def groupnorm_forward(x, num_groups, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=float)
    n, c = x.shape[:2]
    if c % num_groups != 0:
        raise ValueError(f"num_groups={num_groups} must divide C={c}")
    # channel c goes to group c % num_groups: strided groups instead of consecutive channels
    grouped = x.reshape(n, c // num_groups, num_groups, -1).transpose(0, 2, 1, 3).reshape(n, num_groups, -1)
    x_hat = (grouped - grouped.mean(axis=-1, keepdims=True)) / np.sqrt(grouped.var(axis=-1, keepdims=True) + eps)
    x_hat = x_hat.reshape(n, num_groups, c // num_groups, -1).transpose(0, 2, 1, 3).reshape(x.shape)
    return x_hat * np.reshape(gamma, (1, c, 1, 1)) + np.reshape(beta, (1, c, 1, 1))
''', {"test_groupnorm_forward"}),
}

# Answers that delegate instead of doing the work, each hiding it a different way.
SHORTCUTS = {
    "layernorm_forward": '''
import torch
def layernorm_forward(x, gamma, beta, eps=1e-5):
    t = lambda a: torch.tensor(np.asarray(a, dtype=np.float64))
    norm = getattr(torch, "layer" + "_norm")  # torch.layer_norm, looked up at run time
    out = norm(t(x), (np.shape(x)[-1],), t(gamma), t(beta), eps).numpy()
    mean, var = np.mean(x, axis=-1, keepdims=True), np.var(x, axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return out, {"x_hat": (x - mean) * inv_std, "inv_std": inv_std, "gamma": np.asarray(gamma, dtype=np.float64)}
''',
    "layernorm_backward": '''
import regnorm_lab.layer_instance_norm as _lin
def layernorm_backward(dout, cache):
    return _lin.layernorm_backward(dout, cache)
''',
    "instancenorm_forward": '''
import torch
_norm = torch.nn.InstanceNorm2d(1)
def instancenorm_forward(x, eps=1e-5):
    _norm.eps = eps
    return _norm(torch.tensor(np.asarray(x, dtype=np.float64))).numpy()
''',
    "groupnorm_forward": '''
import torch
def groupnorm_forward(x, num_groups, gamma, beta, eps=1e-5):
    x = torch.tensor(np.asarray(x, dtype=np.float64))
    layer = torch.nn.GroupNorm(num_groups, x.shape[1], eps=eps).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(np.asarray(gamma, dtype=np.float64)))
        layer.bias.copy_(torch.tensor(np.asarray(beta, dtype=np.float64)))
        return layer(x).numpy()
''',
}
