"""ps05_layer_instance_norm: the description `python -m regnorm_lab.course build-sources` turns into the source notebook.

Same template as ps01 (see ``regnorm_lab/course/authoring.py``): ``CELLS`` (the
notebook), ``MISTAKES`` (function -> (wrong answer cell, the test cells it must
fail)) and ``SHORTCUTS`` (answer cells that delegate instead of doing the work).
The tests in ``tests/course/test_ps05_layer_instance_norm.py`` plant these.

As in ps04, the backward tests never look inside a student's ``cache``: the
student's forward makes it and the student's backward consumes it.
"""

from regnorm_lab.booktools import book_url
from regnorm_lab.course.authoring import Cell, answer, markdown, setup, test

BOOK = book_url("08_layer_instance_norm.md")  # the address comes from _config.yml (repository.url)


def backward_test(grade_id: str, behaviour: str, points: float, source: str) -> Cell:
    """A test cell of ``layernorm_backward`` whose delegation check runs it on the STUDENT's cache.

    ``test()``'s default sample call would hand the backward pass a cache made by the
    reference forward inside the watched call (an honest backward would be reported as
    calling ``regnorm_lab``), and a student's own cache layout would not fit it anyway.
    """
    cell = test(grade_id, behaviour, points, source, function="layernorm_backward")
    head = (
        "_own_x = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0], [3.0, 0.0, 0.5]])\n"
        "_own_cache = layernorm_forward(_own_x, np.ones(3), np.zeros(3))[1]\n"
        "G.assert_own_work(layernorm_backward, 'layernorm_backward', call=lambda: layernorm_backward(_own_x * 0.5, _own_cache))\n"
    )
    first, _, rest = cell.source.partition("\n")  # "# Test: ..." then test()'s default check
    _, _, body = rest.partition("\n")
    return Cell("test", first + "\n" + head + body, grade_id=cell.grade_id, points=cell.points, function=cell.function)


# Fixed inputs shared by the visible checks (written out so students can reproduce them).
_X2 = "np.array([[1.0, 2.0, -1.0, 0.5], [0.5, -1.0, 2.0, 4.0], [3.0, 0.0, 0.0, -3.0]])"
_X4 = "np.arange(48.0).reshape(2, 4, 2, 3) ** 1.5 % 7.0"



def _fill(source: str) -> str:
    """Put the shared fixed inputs into a test cell's source."""
    return source.replace("__X2__", _X2).replace("__X4__", _X4)


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
    setup(),
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
    test("test_layernorm_forward", "layernorm_forward normalises each row with its own mean and biased variance, then applies gamma and beta", 3, _fill('''
        _x = __X2__
        _g, _b = np.array([1.0, 2.0, 0.5, -1.0]), np.array([0.0, -1.0, 0.5, 2.0])
        _out = layernorm_forward(_x.copy(), _g.copy(), _b.copy())[0]
        _mu, _var = _x.mean(axis=1, keepdims=True), _x.var(axis=1, keepdims=True)
        G.check_close(_out, _g * (_x - _mu) / np.sqrt(_var + 1e-5) + _b, "layernorm_forward output on a 3x4 input")
        ### BEGIN HIDDEN TESTS
        import torch as _torch
        _rng = np.random.default_rng(5001)
        for _n, _d, _dtype in [(1, 5, np.float64), (6, 2, np.float64), (32, 17, np.float64), (9, 8, np.float32)]:
            _x = (_rng.standard_normal((_n, _d)) * _rng.uniform(0.1, 10.0, (_n, 1)) + _rng.uniform(-100, 100, (_n, 1))).astype(_dtype)
            _g, _b = _rng.standard_normal(_d).astype(_dtype), _rng.standard_normal(_d).astype(_dtype)
            _out = layernorm_forward(_x.copy(), _g.copy(), _b.copy())[0]
            G.check_close(_out, G.reference("layernorm_forward")(_x.copy(), _g.copy(), _b.copy())[0], f"layernorm_forward output for a {_dtype.__name__} input of shape {(_n, _d)}")
            _t = _torch.nn.functional.layer_norm(_torch.tensor(_x), (_d,), _torch.tensor(_g), _torch.tensor(_b))
            G.check_close(_out, _t, f"layernorm_forward output against torch's layer_norm, shape {(_n, _d)}")
        ### END HIDDEN TESTS
    '''), function="layernorm_forward"),
    test("test_layernorm_forward_eps", "layernorm_forward adds the eps it is given to the variance", 1, '''
        _x = np.array([[1.0, 1.1, 0.9, 1.0], [0.0, 0.2, -0.2, 0.0]])
        _out = layernorm_forward(_x.copy(), np.ones(4), np.zeros(4), eps=0.1)[0]
        _mu, _var = _x.mean(axis=1, keepdims=True), _x.var(axis=1, keepdims=True)
        G.check_close(_out, (_x - _mu) / np.sqrt(_var + 0.1), "layernorm_forward with eps=0.1 on rows of small variance")
        ### BEGIN HIDDEN TESTS
        import torch as _torch
        _rng = np.random.default_rng(5002)
        for _eps in (1e-3, 0.5, 2.0):
            _x = _rng.standard_normal((4, 6)) * 0.1
            _g, _b = _rng.standard_normal(6), _rng.standard_normal(6)
            _t = _torch.nn.functional.layer_norm(_torch.tensor(_x), (6,), _torch.tensor(_g), _torch.tensor(_b), eps=_eps)
            G.check_close(layernorm_forward(_x.copy(), _g.copy(), _b.copy(), _eps)[0], _t, f"layernorm_forward with eps={_eps} passed positionally")
        ### END HIDDEN TESTS
    ''', function="layernorm_forward"),
    test("test_layernorm_forward_no_inplace", "layernorm_forward leaves x, gamma and beta unchanged", 1, '''
        _rng = np.random.default_rng(5003)
        G.assert_no_inplace(layernorm_forward, _rng.standard_normal((5, 4)) + 3.0, np.array([1.0, 2.0, 0.5, -1.0]), np.array([0.0, -1.0, 0.5, 2.0]), what="layernorm_forward")
    ''', function="layernorm_forward"),
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
    backward_test("test_layernorm_backward_dx", "layernorm_backward returns the gradient with respect to x (each row's statistics depend on that row)", 3, _fill('''
        from regnorm_lab.gradcheck import numerical_gradient_array as _num_grad
        _x = __X2__
        _g, _b = np.array([1.0, 2.0, 0.5, -1.0]), np.array([0.0, -1.0, 0.5, 2.0])
        _dout = np.array([[0.5, -1.0, 2.0, 1.0], [1.0, 0.0, -0.5, 0.25], [-1.5, 2.0, 1.0, -1.0]])
        _dx = layernorm_backward(_dout.copy(), layernorm_forward(_x.copy(), _g.copy(), _b.copy())[1])[0]
        _num = _num_grad(lambda z: layernorm_forward(z, _g.copy(), _b.copy())[0], _x.copy(), _dout)
        G.check_close(_dx, _num, "dx against the numerical gradient of your layernorm_forward", rtol=1e-5, atol=1e-7)
        G.check_close(_dx, G.reference("layernorm_backward")(_dout.copy(), G.reference("layernorm_forward")(_x.copy(), _g.copy(), _b.copy())[1])[0], "dx on a 3x4 input")
        ### BEGIN HIDDEN TESTS
        _rng = np.random.default_rng(5004)
        for _n, _d, _dtype in [(1, 3, np.float64), (4, 1, np.float64), (16, 9, np.float64), (7, 5, np.float32)]:
            _x = (_rng.standard_normal((_n, _d)) * 3.0 + _rng.uniform(-20, 20, (_n, 1))).astype(_dtype)
            _g, _b = _rng.standard_normal(_d).astype(_dtype), _rng.standard_normal(_d).astype(_dtype)
            _dout = _rng.standard_normal((_n, _d)).astype(_dtype)
            _dx = layernorm_backward(_dout.copy(), layernorm_forward(_x.copy(), _g.copy(), _b.copy())[1])[0]
            _want = G.reference("layernorm_backward")(_dout.copy(), G.reference("layernorm_forward")(_x.copy(), _g.copy(), _b.copy())[1])[0]
            G.check_close(_dx, _want, f"dx for a {_dtype.__name__} input of shape {(_n, _d)}")
        _x, _dout = _rng.standard_normal((3, 5)), _rng.standard_normal((3, 5))
        _g, _b = _rng.standard_normal(5), _rng.standard_normal(5)
        _dx = layernorm_backward(_dout.copy(), layernorm_forward(_x.copy(), _g.copy(), _b.copy())[1])[0]
        _num = _num_grad(lambda z: G.reference("layernorm_forward")(z, _g.copy(), _b.copy())[0], _x.copy(), _dout)
        G.check_close(_dx, _num, "dx against the numerical gradient of layer normalization on a 3x5 input", rtol=1e-5, atol=1e-7)
        ### END HIDDEN TESTS
    ''')),
    backward_test("test_layernorm_backward_dgamma", "layernorm_backward returns dgamma = sum over the rows of dout * x_hat", 1, _fill('''
        _x = __X2__
        _dout = np.array([[0.5, -1.0, 2.0, 1.0], [1.0, 0.0, -0.5, 0.25], [-1.5, 2.0, 1.0, -1.0]])
        _dgamma = layernorm_backward(_dout.copy(), layernorm_forward(_x.copy(), np.array([1.0, 2.0, 0.5, -1.0]), np.zeros(4))[1])[1]
        _x_hat = (_x - _x.mean(axis=1, keepdims=True)) / np.sqrt(_x.var(axis=1, keepdims=True) + 1e-5)
        G.check_close(_dgamma, (_dout * _x_hat).sum(axis=0), "dgamma on a 3x4 input")
        ### BEGIN HIDDEN TESTS
        from regnorm_lab.gradcheck import numerical_gradient_array as _num_grad
        _rng = np.random.default_rng(5005)
        _x, _dout = _rng.standard_normal((6, 4)) * 2.0, _rng.standard_normal((6, 4))
        _g, _b = _rng.standard_normal(4), _rng.standard_normal(4)
        _dgamma = layernorm_backward(_dout.copy(), layernorm_forward(_x.copy(), _g.copy(), _b.copy())[1])[1]
        _num = _num_grad(lambda gg: G.reference("layernorm_forward")(_x.copy(), gg, _b.copy())[0], _g.copy(), _dout)
        G.check_close(_dgamma, _num, "dgamma against the numerical gradient on a 6x4 input", rtol=1e-5, atol=1e-7)
        ### END HIDDEN TESTS
    ''')),
    backward_test("test_layernorm_backward_dbeta", "layernorm_backward returns dbeta = sum over the rows of dout", 1, _fill('''
        _x = __X2__
        _dout = np.array([[0.5, -1.0, 2.0, 1.0], [1.0, 0.0, -0.5, 0.25], [-1.5, 2.0, 1.0, -1.0]])
        _dbeta = layernorm_backward(_dout.copy(), layernorm_forward(_x.copy(), np.ones(4), np.zeros(4))[1])[2]
        G.check_close(_dbeta, np.array([0.0, 1.0, 2.5, 0.25]), "dbeta on a 3x4 input")
        ### BEGIN HIDDEN TESTS
        _rng = np.random.default_rng(5006)
        _x, _dout = _rng.standard_normal((11, 3)), _rng.standard_normal((11, 3))
        _dbeta = layernorm_backward(_dout.copy(), layernorm_forward(_x.copy(), _rng.standard_normal(3), _rng.standard_normal(3))[1])[2]
        G.check_close(_dbeta, _dout.sum(axis=0), "dbeta on an 11x3 input")
        ### END HIDDEN TESTS
    ''')),
    backward_test("test_layernorm_backward_no_inplace", "layernorm_backward leaves dout unchanged", 1, '''
        _rng = np.random.default_rng(5007)
        _cache = layernorm_forward(_rng.standard_normal((5, 4)), np.array([1.0, 2.0, 0.5, -1.0]), np.zeros(4))[1]
        G.assert_no_inplace(layernorm_backward, _rng.standard_normal((5, 4)), _cache, what="layernorm_backward")
    '''),
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
    test("test_instancenorm_forward", "instancenorm_forward normalises each (sample, channel) plane over its positions", 3, _fill('''
        _x = __X4__
        _mu, _var = _x.mean(axis=(2, 3), keepdims=True), _x.var(axis=(2, 3), keepdims=True)
        G.check_close(instancenorm_forward(_x.copy()), (_x - _mu) / np.sqrt(_var + 1e-5), "instancenorm_forward on a (2, 4, 2, 3) input")
        ### BEGIN HIDDEN TESTS
        import torch as _torch
        _rng = np.random.default_rng(5008)
        for _shape, _dtype in [((1, 1, 2, 2), np.float64), ((3, 2, 5, 4), np.float64), ((2, 6, 7, 1), np.float64), ((4, 3, 6, 6), np.float32)]:
            _x = (_rng.standard_normal(_shape) * _rng.uniform(0.1, 10.0, _shape[:2] + (1, 1)) + _rng.uniform(-50, 50, _shape[:2] + (1, 1))).astype(_dtype)
            _out = instancenorm_forward(_x.copy())
            G.check_close(_out, G.reference("instancenorm_forward")(_x.copy()), f"instancenorm_forward for a {_dtype.__name__} input of shape {_shape}")
            G.check_close(_out, _torch.nn.functional.instance_norm(_torch.tensor(_x)), f"instancenorm_forward against torch's instance_norm, shape {_shape}")
        ### END HIDDEN TESTS
    '''), function="instancenorm_forward"),
    test("test_instancenorm_forward_eps", "instancenorm_forward adds the eps it is given to the variance", 1, _fill('''
        _x = __X4__ * 0.01
        _mu, _var = _x.mean(axis=(2, 3), keepdims=True), _x.var(axis=(2, 3), keepdims=True)
        G.check_close(instancenorm_forward(_x.copy(), eps=0.01), (_x - _mu) / np.sqrt(_var + 0.01), "instancenorm_forward with eps=0.01")
        ### BEGIN HIDDEN TESTS
        import torch as _torch
        _x = np.random.default_rng(5009).standard_normal((2, 3, 4, 4)) * 0.3
        for _eps in (1e-3, 1.0):
            G.check_close(instancenorm_forward(_x.copy(), _eps), _torch.nn.functional.instance_norm(_torch.tensor(_x), eps=_eps), f"instancenorm_forward with eps={_eps} passed positionally")
        ### END HIDDEN TESTS
    '''), function="instancenorm_forward"),
    test("test_instancenorm_forward_no_inplace", "instancenorm_forward leaves x unchanged", 1, '''
        G.assert_no_inplace(instancenorm_forward, np.random.default_rng(5010).standard_normal((2, 3, 4, 4)) + 1.0, what="instancenorm_forward")
    ''', function="instancenorm_forward"),
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
    test("test_groupnorm_forward", "groupnorm_forward normalises each group of consecutive channels, then applies gamma and beta per channel", 3, _fill('''
        _x = __X4__
        _g, _b = np.array([1.0, 2.0, 0.5, -1.0]), np.array([0.0, -1.0, 0.5, 2.0])
        _grp = _x.reshape(2, 2, -1)  # 2 groups of 2 consecutive channels
        _want = ((_grp - _grp.mean(axis=2, keepdims=True)) / np.sqrt(_grp.var(axis=2, keepdims=True) + 1e-5)).reshape(_x.shape)
        _want = _want * _g.reshape(1, 4, 1, 1) + _b.reshape(1, 4, 1, 1)
        G.check_close(groupnorm_forward(_x.copy(), 2, _g.copy(), _b.copy()), _want, "groupnorm_forward with 2 groups on a (2, 4, 2, 3) input")
        ### BEGIN HIDDEN TESTS
        import torch as _torch
        _rng = np.random.default_rng(5011)
        for _shape, _groups, _dtype in [((2, 6, 3, 3), 3, np.float64), ((1, 8, 2, 5), 4, np.float64), ((3, 6, 4, 1), 2, np.float64), ((2, 9, 4, 4), 3, np.float32)]:
            _x = (_rng.standard_normal(_shape) * _rng.uniform(0.5, 5.0, (1, _shape[1], 1, 1)) + _rng.uniform(-20, 20, (1, _shape[1], 1, 1))).astype(_dtype)
            _g, _b = _rng.standard_normal(_shape[1]).astype(_dtype), _rng.standard_normal(_shape[1]).astype(_dtype)
            _out = groupnorm_forward(_x.copy(), _groups, _g.copy(), _b.copy())
            G.check_close(_out, G.reference("groupnorm_forward")(_x.copy(), _groups, _g.copy(), _b.copy()), f"groupnorm_forward for a {_dtype.__name__} input of shape {_shape} with {_groups} groups")
            _t = _torch.nn.functional.group_norm(_torch.tensor(_x), _groups, _torch.tensor(_g), _torch.tensor(_b))
            G.check_close(_out, _t, f"groupnorm_forward against torch's group_norm, shape {_shape}, {_groups} groups")
        _t = _torch.nn.functional.group_norm(_torch.tensor(_x), _groups, _torch.tensor(_g), _torch.tensor(_b), eps=0.5)
        G.check_close(groupnorm_forward(_x.copy(), _groups, _g.copy(), _b.copy(), 0.5), _t, "groupnorm_forward with eps=0.5 passed positionally")
        ### END HIDDEN TESTS
    '''), function="groupnorm_forward"),
    test("test_groupnorm_forward_special_cases", "groupnorm_forward with one group is layer norm over (C, H, W); with C groups it is instance norm", 1, _fill('''
        _x = __X4__
        _mu, _var = _x.mean(axis=(1, 2, 3), keepdims=True), _x.var(axis=(1, 2, 3), keepdims=True)
        G.check_close(groupnorm_forward(_x.copy(), 1, np.ones(4), np.zeros(4)), (_x - _mu) / np.sqrt(_var + 1e-5), "groupnorm_forward with num_groups=1")
        _mu, _var = _x.mean(axis=(2, 3), keepdims=True), _x.var(axis=(2, 3), keepdims=True)
        G.check_close(groupnorm_forward(_x.copy(), 4, np.ones(4), np.zeros(4)), (_x - _mu) / np.sqrt(_var + 1e-5), "groupnorm_forward with num_groups=C=4")
        ### BEGIN HIDDEN TESTS
        import torch as _torch
        _rng = np.random.default_rng(5012)
        _x = _rng.standard_normal((3, 5, 2, 4)) * 4.0 + 1.0
        _g, _b = _rng.standard_normal(5), _rng.standard_normal(5)
        for _groups in (1, 5):
            _t = _torch.nn.functional.group_norm(_torch.tensor(_x), _groups, _torch.tensor(_g), _torch.tensor(_b))
            G.check_close(groupnorm_forward(_x.copy(), _groups, _g.copy(), _b.copy()), _t, f"groupnorm_forward with num_groups={_groups} and C=5 against torch")
        ### END HIDDEN TESTS
    '''), function="groupnorm_forward"),
    test("test_groupnorm_forward_errors", "groupnorm_forward rejects a num_groups that does not divide C with a ValueError naming num_groups", 1, '''
        G.assert_raises_value_error(groupnorm_forward, np.ones((2, 4, 3, 3)), 3, np.ones(4), np.zeros(4), arg="num_groups", what="groupnorm_forward with C=4 and num_groups=3")
        ### BEGIN HIDDEN TESTS
        G.assert_raises_value_error(groupnorm_forward, np.ones((1, 6, 2, 2)), 4, np.ones(6), np.zeros(6), arg="num_groups", what="groupnorm_forward with C=6 and num_groups=4")
        G.assert_raises_value_error(groupnorm_forward, np.ones((1, 3, 2, 2)), 6, np.ones(3), np.zeros(3), arg="num_groups", what="groupnorm_forward with more groups (6) than channels (3)")
        ### END HIDDEN TESTS
    ''', function="groupnorm_forward"),
    test("test_groupnorm_forward_no_inplace", "groupnorm_forward leaves x, gamma and beta unchanged", 1, '''
        G.assert_no_inplace(groupnorm_forward, np.random.default_rng(5013).standard_normal((2, 4, 3, 3)) + 2.0, 2, np.array([1.0, 2.0, 0.5, -1.0]), np.array([0.0, -1.0, 0.5, 2.0]), what="groupnorm_forward")
    ''', function="groupnorm_forward"),
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
