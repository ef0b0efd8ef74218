"""ps04_batch_norm: the description `python -m regnorm_lab.course build-sources` turns into the source notebook.

Same template as ps01 (see ``regnorm_lab/course/authoring.py``): ``CELLS`` (the
notebook), ``MISTAKES`` (function -> (wrong answer cell, the test cells it must
fail)) and ``SHORTCUTS`` (answer cells that delegate instead of doing the work).
The tests in ``tests/course/test_ps04_batch_norm.py`` plant these as submissions.

The backward tests never look inside a student's ``cache``: they call the
student's forward, hand its cache to the student's backward, and compare the
gradients with the reference's forward+backward on the same inputs and with
central-difference gradients (``regnorm_lab.gradcheck``) of the student's forward.
"""

from regnorm_lab.booktools import book_url
from regnorm_lab.course.authoring import Cell, answer, markdown, setup, test


def backward_test(grade_id: str, behaviour: str, points: float, source: str) -> Cell:
    """A test cell of ``batchnorm_backward`` whose delegation check runs it on the STUDENT's cache.

    ``test()``'s default sample call would hand the backward pass a cache made by the
    reference forward, inside the watched call (so an honest backward was reported as
    calling ``regnorm_lab``), and a student's own cache layout would not fit it anyway.
    """
    cell = test(grade_id, behaviour, points, source, function="batchnorm_backward")
    head = (
        "_own_x = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0], [3.0, 0.0, 0.5]])\n"
        "_own_cache = batchnorm_forward(_own_x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))[1]\n"
        "G.assert_own_work(batchnorm_backward, 'batchnorm_backward', call=lambda: batchnorm_backward(_own_x * 0.5, _own_cache))\n"
    )
    first, _, rest = cell.source.partition("\n")  # "# Test: ..." then test()'s default check
    _, _, body = rest.partition("\n")
    return Cell("test", first + "\n" + head + body, grade_id=cell.grade_id, points=cell.points, function=cell.function)

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
    setup(),
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
    test("test_batchnorm_forward_training", "batchnorm_forward in training mode normalises each feature with the batch mean and biased variance", 3, '''
        _x = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0], [3.0, 0.0, 0.0], [-2.0, 1.0, 1.0]])
        _g, _b = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 0.5])
        _out = batchnorm_forward(_x.copy(), _g.copy(), _b.copy(), np.zeros(3), np.ones(3))[0]
        _mu, _var = _x.mean(axis=0), _x.var(axis=0)  # var(axis=0) is the biased variance
        G.check_close(_out, _g * (_x - _mu) / np.sqrt(_var + 1e-5) + _b, "batchnorm_forward output on a 4x3 batch")
        G.check_close(batchnorm_forward(_x.copy(), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))[0].mean(axis=0), np.zeros(3), "column means of the output with gamma=1, beta=0", atol=1e-7)
        ### BEGIN HIDDEN TESTS
        import torch as _torch
        _rng = np.random.default_rng(4001)
        for _n, _d, _dtype in [(2, 5, np.float64), (7, 3, np.float64), (64, 10, np.float64), (33, 4, np.float32)]:
            _x = (_rng.standard_normal((_n, _d)) * _rng.uniform(0.1, 10.0, _d) + _rng.uniform(-50, 50, _d)).astype(_dtype)
            _g, _b = _rng.standard_normal(_d).astype(_dtype), _rng.standard_normal(_d).astype(_dtype)
            _rm, _rv = _rng.standard_normal(_d), _rng.uniform(0.5, 2.0, _d)
            _eps = float(_rng.choice([1e-5, 1e-3, 0.1]))
            _out = batchnorm_forward(_x.copy(), _g.copy(), _b.copy(), _rm.copy(), _rv.copy(), True, 0.1, _eps)[0]
            _want = G.reference("batchnorm_forward")(_x.copy(), _g.copy(), _b.copy(), _rm.copy(), _rv.copy(), True, 0.1, _eps)[0]
            G.check_close(_out, _want, f"batchnorm_forward output for a {_dtype.__name__} batch of shape {(_n, _d)}, eps={_eps}")
            _t = _torch.nn.functional.batch_norm(_torch.tensor(_x), None, None, _torch.tensor(_g), _torch.tensor(_b), training=True, eps=_eps)
            G.check_close(_out, _t, f"batchnorm_forward output against torch's batch_norm, shape {(_n, _d)}")
        ### END HIDDEN TESTS
    ''', function="batchnorm_forward"),
    test("test_batchnorm_forward_running_mean", "batchnorm_forward updates the running mean as (1 - momentum) * old + momentum * batch mean", 1, '''
        _x = np.array([[1.0, 2.0], [3.0, -2.0], [5.0, 6.0]])
        _new_mean = batchnorm_forward(_x.copy(), np.ones(2), np.zeros(2), np.array([1.0, -1.0]), np.ones(2))[2]
        G.check_close(_new_mean, 0.9 * np.array([1.0, -1.0]) + 0.1 * np.array([3.0, 2.0]), "new running mean with the default momentum 0.1")
        ### BEGIN HIDDEN TESTS
        _rng = np.random.default_rng(4002)
        for _n, _d in [(2, 3), (16, 5), (50, 2)]:
            _x = _rng.standard_normal((_n, _d)) * 3.0 + 7.0
            _rm, _rv = _rng.standard_normal(_d), _rng.uniform(0.5, 2.0, _d)
            _got = batchnorm_forward(_x.copy(), np.ones(_d), np.zeros(_d), _rm.copy(), _rv.copy())[2]
            G.check_close(_got, 0.9 * _rm + 0.1 * _x.mean(axis=0), f"new running mean for a batch of shape {(_n, _d)}")
        ### END HIDDEN TESTS
    ''', function="batchnorm_forward"),
    test("test_batchnorm_forward_running_var", "batchnorm_forward updates the running variance with the unbiased batch variance", 2, '''
        _x = np.array([[1.0, 2.0], [3.0, -2.0], [5.0, 6.0]])
        _new_var = batchnorm_forward(_x.copy(), np.ones(2), np.zeros(2), np.zeros(2), np.array([1.0, 2.0]))[3]
        # unbiased variance (divide by N - 1 = 2): [4, 16]
        G.check_close(_new_var, 0.9 * np.array([1.0, 2.0]) + 0.1 * np.array([4.0, 16.0]), "new running variance (unbiased batch variance, momentum 0.1)")
        ### BEGIN HIDDEN TESTS
        import torch as _torch
        _rng = np.random.default_rng(4003)
        for _n, _d, _m in [(2, 3, 0.1), (9, 4, 0.1), (40, 6, 0.25)]:
            _x = _rng.standard_normal((_n, _d)) * _rng.uniform(0.5, 4.0, _d)
            _rm, _rv = _rng.standard_normal(_d), _rng.uniform(0.5, 2.0, _d)
            _got = batchnorm_forward(_x.copy(), np.ones(_d), np.zeros(_d), _rm.copy(), _rv.copy(), True, _m)[3]
            _trm, _trv = _torch.tensor(_rm), _torch.tensor(_rv)  # torch updates these buffers in place
            _torch.nn.functional.batch_norm(_torch.tensor(_x), _trm, _trv, training=True, momentum=_m)
            G.check_close(_got, _trv, f"new running variance against torch's BatchNorm for a batch of shape {(_n, _d)}")
        ### END HIDDEN TESTS
    ''', function="batchnorm_forward"),
    test("test_batchnorm_forward_eval", "batchnorm_forward in evaluation mode normalises with the running statistics and returns them unchanged", 2, '''
        _x = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0]])
        _g, _b = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 0.5])
        _rm, _rv = np.array([0.5, -1.0, 2.0]), np.array([4.0, 0.25, 1.0])
        _out, _, _nm, _nv = batchnorm_forward(_x.copy(), _g.copy(), _b.copy(), _rm.copy(), _rv.copy(), training=False)
        G.check_close(_out, _g * (_x - _rm) / np.sqrt(_rv + 1e-5) + _b, "evaluation-mode output (uses running_mean and running_var)")
        G.check_close(_nm, _rm, "running mean returned by an evaluation-mode call (must be unchanged)")
        G.check_close(_nv, _rv, "running variance returned by an evaluation-mode call (must be unchanged)")
        ### BEGIN HIDDEN TESTS
        import torch as _torch
        _rng = np.random.default_rng(4004)
        for _n, _d in [(1, 4), (5, 3), (30, 8)]:
            _x = _rng.standard_normal((_n, _d)) * 2.0 + 1.0
            _g, _b = _rng.standard_normal(_d), _rng.standard_normal(_d)
            _rm, _rv = _rng.standard_normal(_d), _rng.uniform(0.2, 3.0, _d)
            _out, _, _nm, _nv = batchnorm_forward(_x.copy(), _g.copy(), _b.copy(), _rm.copy(), _rv.copy(), False, 0.3, 1e-3)
            _t = _torch.nn.functional.batch_norm(_torch.tensor(_x), _torch.tensor(_rm), _torch.tensor(_rv), _torch.tensor(_g), _torch.tensor(_b), training=False, eps=1e-3)
            G.check_close(_out, _t, f"evaluation-mode output against torch for a batch of shape {(_n, _d)} (N=1 is allowed when not training)")
            G.check_close(_nm, _rm, "running mean after an evaluation-mode call")
            G.check_close(_nv, _rv, "running variance after an evaluation-mode call")
        ### END HIDDEN TESTS
    ''', function="batchnorm_forward"),
    test("test_batchnorm_forward_momentum", "batchnorm_forward uses the momentum it is given (0 keeps the old running mean, 1 replaces it)", 1, '''
        _x = np.array([[1.0, 2.0], [3.0, -2.0], [5.0, 6.0]])
        _rm = np.array([1.0, -1.0])
        _got = batchnorm_forward(_x.copy(), np.ones(2), np.zeros(2), _rm.copy(), np.ones(2), momentum=0.5)[2]
        G.check_close(_got, 0.5 * _rm + 0.5 * np.array([3.0, 2.0]), "new running mean with momentum=0.5")
        ### BEGIN HIDDEN TESTS
        G.check_close(batchnorm_forward(_x.copy(), np.ones(2), np.zeros(2), _rm.copy(), np.ones(2), momentum=0.0)[2], _rm, "new running mean with momentum=0 (the old one)")
        G.check_close(batchnorm_forward(_x.copy(), np.ones(2), np.zeros(2), _rm.copy(), np.ones(2), momentum=1.0)[2], np.array([3.0, 2.0]), "new running mean with momentum=1 (the batch mean)")
        G.check_close(batchnorm_forward(_x.copy(), np.ones(2), np.zeros(2), _rm.copy(), np.ones(2), True, 0.75)[2], 0.25 * _rm + 0.75 * np.array([3.0, 2.0]), "new running mean with momentum=0.75 passed positionally")
        ### END HIDDEN TESTS
    ''', function="batchnorm_forward"),
    test("test_batchnorm_forward_errors", "batchnorm_forward rejects N == 1 in training, eps <= 0 and momentum outside [0, 1] with a ValueError naming the argument", 2, '''
        _args = (np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
        G.assert_raises_value_error(batchnorm_forward, np.ones((1, 3)), *_args, arg="x", what="batchnorm_forward on a single sample (N=1) in training mode")
        G.assert_raises_value_error(batchnorm_forward, np.ones((4, 3)), *_args, eps=0.0, arg="eps", what="batchnorm_forward with eps=0")
        G.assert_raises_value_error(batchnorm_forward, np.ones((4, 3)), *_args, momentum=1.5, arg="momentum", what="batchnorm_forward with momentum=1.5")
        ### BEGIN HIDDEN TESTS
        G.assert_raises_value_error(batchnorm_forward, np.ones((4, 3)), *_args, eps=-1e-5, arg="eps", what="batchnorm_forward with a negative eps")
        G.assert_raises_value_error(batchnorm_forward, np.ones((4, 3)), *_args, momentum=-0.1, arg="momentum", what="batchnorm_forward with momentum=-0.1")
        G.assert_raises_value_error(batchnorm_forward, np.ones((4, 3)), *_args, training=False, eps=0.0, arg="eps", what="batchnorm_forward with eps=0 in evaluation mode")
        ### END HIDDEN TESTS
    ''', function="batchnorm_forward"),
    test("test_batchnorm_forward_no_inplace", "batchnorm_forward leaves x, gamma, beta and the running statistics unchanged", 1, '''
        _rng = np.random.default_rng(4005)
        for _training in (True, False):
            G.assert_no_inplace(batchnorm_forward, _rng.standard_normal((6, 3)), np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 0.5]),
                                np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 3.0]), training=_training, what=f"batchnorm_forward (training={_training})")
    ''', function="batchnorm_forward"),
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
    backward_test("test_batchnorm_backward_dx", "batchnorm_backward returns the gradient with respect to x (batch statistics depend on x)", 4, '''
        from regnorm_lab.gradcheck import numerical_gradient_array as _num_grad
        _x = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0], [3.0, 0.0, 0.0], [-2.0, 1.0, 1.0]])
        _g, _b = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 0.5])
        _dout = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5], [-1.5, 2.0, 1.0], [0.25, 0.5, -2.0]])
        _cache = batchnorm_forward(_x.copy(), _g.copy(), _b.copy(), np.zeros(3), np.ones(3))[1]
        _dx = batchnorm_backward(_dout.copy(), _cache)[0]
        _num = _num_grad(lambda z: batchnorm_forward(z, _g.copy(), _b.copy(), np.zeros(3), np.ones(3))[0], _x.copy(), _dout)
        G.check_close(_dx, _num, "dx against the numerical gradient of your batchnorm_forward", rtol=1e-5, atol=1e-7)
        _ref = G.reference("batchnorm_forward")(_x.copy(), _g.copy(), _b.copy(), np.zeros(3), np.ones(3))
        G.check_close(_dx, G.reference("batchnorm_backward")(_dout.copy(), _ref[1])[0], "dx on a 4x3 batch")
        ### BEGIN HIDDEN TESTS
        _rng = np.random.default_rng(4006)
        for _n, _d, _dtype in [(2, 3, np.float64), (5, 1, np.float64), (32, 6, np.float64), (17, 4, np.float32)]:
            _x = (_rng.standard_normal((_n, _d)) * _rng.uniform(0.2, 5.0, _d) + _rng.uniform(-10, 10, _d)).astype(_dtype)
            _g, _b = _rng.standard_normal(_d).astype(_dtype), _rng.standard_normal(_d).astype(_dtype)
            _dout = _rng.standard_normal((_n, _d)).astype(_dtype)
            _eps = float(_rng.choice([1e-5, 1e-2]))
            _cache = batchnorm_forward(_x.copy(), _g.copy(), _b.copy(), np.zeros(_d), np.ones(_d), True, 0.1, _eps)[1]
            _dx = batchnorm_backward(_dout.copy(), _cache)[0]
            _ref = G.reference("batchnorm_forward")(_x.copy(), _g.copy(), _b.copy(), np.zeros(_d), np.ones(_d), True, 0.1, _eps)
            G.check_close(_dx, G.reference("batchnorm_backward")(_dout.copy(), _ref[1])[0], f"dx for a {_dtype.__name__} batch of shape {(_n, _d)}, eps={_eps}")
        _x = _rng.standard_normal((6, 2))
        _dout = _rng.standard_normal((6, 2))
        _g, _b = np.array([1.5, -0.5]), np.array([0.2, 0.1])
        _dx = batchnorm_backward(_dout.copy(), batchnorm_forward(_x.copy(), _g.copy(), _b.copy(), np.zeros(2), np.ones(2))[1])[0]
        _num = _num_grad(lambda z: G.reference("batchnorm_forward")(z, _g.copy(), _b.copy(), np.zeros(2), np.ones(2))[0], _x.copy(), _dout)
        G.check_close(_dx, _num, "dx against the numerical gradient of batch normalization on a 6x2 batch", rtol=1e-5, atol=1e-7)
        G.check_close(_dx.sum(axis=0), np.zeros(2), "column sums of dx (shifting a whole column does not change the output)", atol=1e-7)
        ### END HIDDEN TESTS
    '''),
    backward_test("test_batchnorm_backward_dgamma", "batchnorm_backward returns dgamma = sum over the batch of dout * x_hat", 1, '''
        from regnorm_lab.gradcheck import numerical_gradient_array as _num_grad
        _x = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0], [3.0, 0.0, 0.0], [-2.0, 1.0, 1.0]])
        _g, _b = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 0.5])
        _dout = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5], [-1.5, 2.0, 1.0], [0.25, 0.5, -2.0]])
        _dgamma = batchnorm_backward(_dout.copy(), batchnorm_forward(_x.copy(), _g.copy(), _b.copy(), np.zeros(3), np.ones(3))[1])[1]
        _x_hat = (_x - _x.mean(axis=0)) / np.sqrt(_x.var(axis=0) + 1e-5)
        G.check_close(_dgamma, (_dout * _x_hat).sum(axis=0), "dgamma on a 4x3 batch")
        ### BEGIN HIDDEN TESTS
        _rng = np.random.default_rng(4007)
        for _n, _d in [(2, 2), (12, 5)]:
            _x, _dout = _rng.standard_normal((_n, _d)) * 3.0, _rng.standard_normal((_n, _d))
            _g, _b = _rng.standard_normal(_d), _rng.standard_normal(_d)
            _dgamma = batchnorm_backward(_dout.copy(), batchnorm_forward(_x.copy(), _g.copy(), _b.copy(), np.zeros(_d), np.ones(_d))[1])[1]
            _num = _num_grad(lambda gg: G.reference("batchnorm_forward")(_x.copy(), gg, _b.copy(), np.zeros(_d), np.ones(_d))[0], _g.copy(), _dout)
            G.check_close(_dgamma, _num, f"dgamma against the numerical gradient for a batch of shape {(_n, _d)}", rtol=1e-5, atol=1e-7)
        ### END HIDDEN TESTS
    '''),
    backward_test("test_batchnorm_backward_dbeta", "batchnorm_backward returns dbeta = sum over the batch of dout", 1, '''
        _x = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0], [3.0, 0.0, 0.0], [-2.0, 1.0, 1.0]])
        _dout = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5], [-1.5, 2.0, 1.0], [0.25, 0.5, -2.0]])
        _dbeta = batchnorm_backward(_dout.copy(), batchnorm_forward(_x.copy(), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))[1])[2]
        G.check_close(_dbeta, np.array([0.25, 1.5, 0.5]), "dbeta on a 4x3 batch")
        ### BEGIN HIDDEN TESTS
        _rng = np.random.default_rng(4008)
        for _n, _d in [(2, 3), (20, 7)]:
            _x, _dout = _rng.standard_normal((_n, _d)), _rng.standard_normal((_n, _d))
            _g, _b = _rng.standard_normal(_d), _rng.standard_normal(_d)
            _dbeta = batchnorm_backward(_dout.copy(), batchnorm_forward(_x.copy(), _g.copy(), _b.copy(), np.zeros(_d), np.ones(_d))[1])[2]
            G.check_close(_dbeta, _dout.sum(axis=0), f"dbeta for a batch of shape {(_n, _d)}")
        ### END HIDDEN TESTS
    '''),
    backward_test("test_batchnorm_backward_no_inplace", "batchnorm_backward leaves dout unchanged", 1, '''
        _rng = np.random.default_rng(4009)
        _x = _rng.standard_normal((5, 3))
        _cache = batchnorm_forward(_x, np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 0.5]), np.zeros(3), np.ones(3))[1]
        G.assert_no_inplace(batchnorm_backward, _rng.standard_normal((5, 3)), _cache, what="batchnorm_backward")
    '''),
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
