"""ps02_dropout: description of the source notebook (see ps01_penalties.py for the template)."""

from regnorm_lab.booktools import book_url
from regnorm_lab.course.authoring import answer, markdown, setup, test

BOOK = book_url("06_dropout.md")  # the address comes from _config.yml (repository.url)

CELLS = [
    markdown(f"""
        # ps02 · Inverted dropout

        This assignment goes with the book chapter
        [Popular regularization methods: dropout and weight decay]({BOOK}).
        You write inverted dropout in numpy, with the semantics of
        `torch.nn.functional.dropout`: `p` is the probability of **dropping** a unit,
        and kept units are scaled by `1 / (1 - p)` during training so that the
        expected output equals the input (nothing to rescale at test time).

        | function | returns |
        |---|---|
        | `dropout_forward(x, p, training=True, rng=None)` | `(out, mask)`; `mask` is a boolean array of `x.shape`, True where a unit is kept; training: `out = x * mask / (1 - p)`; not training, or `p == 0`: `out` equals `x` and `mask` is all True; `p == 1`: `out` is all zeros and `mask` all False |
        | `dropout_backward(dout, mask, p)` | `dx = dout * mask / (1 - p)`; zeros when `p == 1` |

        Rules (they are graded):

        * Draw the random mask **only** from `rng`, a `numpy.random.Generator`
          (`rng.random(x.shape)`, for instance); `rng=None` means a fresh
          `np.random.default_rng()`. Never use `np.random.seed` or the global
          `np.random.*` functions: the same seeded generator must give the same mask.
        * `p` outside `[0, 1]` raises `ValueError` whose message names `p`.
        * Never modify the inputs in place.
        * Write it yourself with numpy: a function that calls `torch.nn.functional.dropout`,
          `torch.nn.Dropout` or `regnorm_lab` earns no points.

        Randomness is tested statistically: the fraction of dropped units must be
        plausible for a Binomial(n, p) draw, which a correct answer fails about once
        in 10^8 runs. Run **Kernel → Restart & Run All** before you submit.
    """),
    setup(),
    markdown("""
        ## 1. `dropout_forward(x, p, training=True, rng=None)`
    """),
    answer("dropout_forward", '''
        def dropout_forward(x, p, training=True, rng=None):
            """Inverted dropout: (x * mask / (1 - p), mask) with mask True where a unit is kept."""
            ### BEGIN SOLUTION
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"p must be in [0, 1], got {p}")
            x = np.asarray(x)
            if x.dtype.kind != "f":
                x = x.astype(float)  # integer input: compute in float64
            if not training or p == 0.0:
                return x.copy(), np.ones(x.shape, dtype=bool)
            if p == 1.0:
                return np.zeros_like(x), np.zeros(x.shape, dtype=bool)
            if rng is None:
                rng = np.random.default_rng()
            mask = rng.random(x.shape) >= p
            return x * mask / (1.0 - p), mask
            ### END SOLUTION
    '''),
    test("test_dropout_forward_shapes", "dropout_forward returns an output and a boolean mask of x's shape", 1, '''
        _out, _mask = dropout_forward(np.ones((4, 5)), 0.5, True, np.random.default_rng(0))
        G.check_shape(_out, (4, 5), "dropout_forward output")
        G.check_shape(_mask, (4, 5), "dropout_forward mask")
        G.check_true(np.asarray(_mask).dtype == bool, f"the mask must be a boolean array, got dtype {np.asarray(_mask).dtype}")
        ### BEGIN HIDDEN TESTS
        for _shape in [(7,), (2, 3, 4)]:
            _out, _mask = dropout_forward(np.ones(_shape), 0.3)  # rng=None: a fresh generator
            G.check_shape(_out, _shape, f"dropout_forward output for rng=None and x of shape {_shape}")
            G.check_shape(_mask, _shape, f"dropout_forward mask for rng=None and x of shape {_shape}")
        ### END HIDDEN TESTS
    ''', function="dropout_forward"),
    test("test_dropout_forward_kept_scaled", "dropout_forward zeroes dropped units and scales kept ones by 1/(1-p)", 2, '''
        _x = np.arange(1.0, 13.0).reshape(3, 4)
        _out, _mask = dropout_forward(_x, 0.25, True, np.random.default_rng(1))
        _mask = np.asarray(_mask, dtype=bool)
        G.check_close(_out, _x * _mask / 0.75, "dropout_forward(x, p=0.25): out must equal x * mask / (1 - p) for the mask it returns")
        ### BEGIN HIDDEN TESTS
        _rng = np.random.default_rng(202)
        for _p, _shape, _dtype in [(0.1, (50,), np.float64), (0.5, (6, 7), np.float64), (0.8, (3, 4, 5), np.float32)]:
            _x = _rng.standard_normal(_shape).astype(_dtype)
            _out, _mask = dropout_forward(_x.copy(), _p, True, np.random.default_rng(5))
            _mask = np.asarray(_mask, dtype=bool)
            G.check_close(_out, _x.astype(np.float64) * _mask / (1 - _p), f"dropout_forward with p={_p} on a {_dtype.__name__} array of shape {_shape}", rtol=1e-4 if _dtype is np.float32 else None, atol=1e-5 if _dtype is np.float32 else None)
        ### END HIDDEN TESTS
    ''', function="dropout_forward"),
    test("test_dropout_forward_drop_fraction", "dropout_forward drops each unit with probability p", 2, '''
        _n = 20000
        _out, _mask = dropout_forward(np.ones(_n), 0.3, True, np.random.default_rng(2))
        G.check_binomial_count(int((~np.asarray(_mask, dtype=bool)).sum()), _n, 0.3, "dropped units for p=0.3")
        ### BEGIN HIDDEN TESTS
        for _p, _shape in [(0.1, (100, 100)), (0.5, (40, 250)), (0.9, (10000,))]:
            _out, _mask = dropout_forward(np.ones(_shape), _p, True, np.random.default_rng(int(_p * 100)))
            G.check_binomial_count(int((~np.asarray(_mask, dtype=bool)).sum()), int(np.prod(_shape)), _p, f"dropped units for p={_p}")
        ### END HIDDEN TESTS
    ''', function="dropout_forward"),
    test("test_dropout_forward_mean_preserved", "dropout_forward keeps the expected value of x", 1, '''
        _n, _p = 40000, 0.4
        _out, _ = dropout_forward(np.ones(_n), _p, True, np.random.default_rng(3))
        _sd = ((_p / (1 - _p)) / _n) ** 0.5
        G.check_close(float(np.asarray(_out).mean()), 1.0, "mean of dropout_forward(ones, p=0.4) (should be about 1)", rtol=0, atol=6 * _sd)
    ''', function="dropout_forward"),
    test("test_dropout_forward_identity", "dropout_forward returns x and an all-True mask when not training or p == 0", 1, '''
        _x = np.array([[1.0, -2.0], [3.0, 4.0]])
        for _kw in ({"p": 0.5, "training": False}, {"p": 0.0, "training": True}):
            _out, _mask = dropout_forward(_x.copy(), rng=np.random.default_rng(4), **_kw)
            G.check_close(_out, _x, f"dropout_forward(x, {_kw})", rtol=0, atol=0)
            G.check_true(np.asarray(_mask, dtype=bool).all(), f"dropout_forward(x, {_kw}) must return an all-True mask")
    ''', function="dropout_forward"),
    test("test_dropout_forward_p_one", "dropout_forward with p == 1 drops everything (zeros, no NaN)", 1, '''
        _out, _mask = dropout_forward(np.ones((3, 3)), 1.0, True, np.random.default_rng(5))
        G.check_close(_out, np.zeros((3, 3)), "dropout_forward(x, p=1) (all zeros, no NaN or inf)", rtol=0, atol=0)
        G.check_true(not np.asarray(_mask, dtype=bool).any(), "dropout_forward(x, p=1) must return an all-False mask")
    ''', function="dropout_forward"),
    test("test_dropout_forward_reproducible", "dropout_forward draws its mask from rng only (same seed, same mask)", 1, '''
        _x = np.ones(1000)
        _o1, _m1 = dropout_forward(_x, 0.5, True, np.random.default_rng(42))
        _o2, _m2 = dropout_forward(_x, 0.5, True, np.random.default_rng(42))
        G.check_true((np.asarray(_m1) == np.asarray(_m2)).all(), "two calls with np.random.default_rng(42) must give the same mask: draw it from rng")
        G.check_close(_o1, _o2, "outputs of two calls with the same seed", rtol=0, atol=0)
        _o3, _m3 = dropout_forward(_x, 0.5, True, np.random.default_rng(43))
        G.check_true((np.asarray(_m1) != np.asarray(_m3)).any(), "different seeds should give different masks: draw the mask from rng")
    ''', function="dropout_forward"),
    test("test_dropout_forward_errors", "dropout_forward rejects p outside [0, 1] with a ValueError naming p", 1, '''
        G.assert_raises_value_error(dropout_forward, np.ones(3), -0.1, arg="p", what="dropout_forward(x, p=-0.1)")
        G.assert_raises_value_error(dropout_forward, np.ones(3), 1.5, arg="p", what="dropout_forward(x, p=1.5)")
    ''', function="dropout_forward"),
    test("test_dropout_forward_no_inplace", "dropout_forward leaves x unchanged", 1, '''
        G.assert_no_inplace(dropout_forward, np.arange(1.0, 7.0), 0.5, True, np.random.default_rng(6), what="dropout_forward")
    ''', function="dropout_forward"),
    markdown("""
        ## 2. `dropout_backward(dout, mask, p)`

        The forward pass is linear in `x` for a fixed mask, so the gradient is the same
        factor: `dx = dout * mask / (1 - p)`, and all zeros when `p == 1`.
    """),
    answer("dropout_backward", '''
        def dropout_backward(dout, mask, p):
            """dx = dout * mask / (1 - p); zeros when p == 1; ValueError naming 'p' outside [0, 1]."""
            ### BEGIN SOLUTION
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"p must be in [0, 1], got {p}")
            dout = np.asarray(dout, dtype=float)
            if p == 1.0:
                return np.zeros_like(dout)
            return dout * np.asarray(mask, dtype=bool) / (1.0 - p)
            ### END SOLUTION
    '''),
    test("test_dropout_backward_values", "dropout_backward returns dout * mask / (1 - p)", 2, '''
        _dout = np.array([[1.0, 2.0], [3.0, 4.0]])
        _mask = np.array([[True, False], [False, True]])
        G.check_close(dropout_backward(_dout, _mask, 0.5), np.array([[2.0, 0.0], [0.0, 8.0]]), "dropout_backward(dout, mask, p=0.5)")
        ### BEGIN HIDDEN TESTS
        _rng = np.random.default_rng(303)
        for _p, _shape in [(0.0, (5,)), (0.2, (4, 6)), (0.75, (2, 3, 4))]:
            _d = _rng.standard_normal(_shape)
            _m = _rng.random(_shape) >= _p
            G.check_close(dropout_backward(_d.copy(), _m.copy(), _p), G.reference("dropout_backward")(_d.copy(), _m.copy(), _p), f"dropout_backward with p={_p}, shape {_shape}")
        ### END HIDDEN TESTS
    ''', function="dropout_backward"),
    test("test_dropout_backward_p_one", "dropout_backward with p == 1 returns zeros (no NaN)", 1, '''
        G.check_close(dropout_backward(np.ones((2, 3)), np.zeros((2, 3), dtype=bool), 1.0), np.zeros((2, 3)), "dropout_backward(dout, mask, p=1)", rtol=0, atol=0)
    ''', function="dropout_backward"),
    test("test_dropout_backward_errors", "dropout_backward rejects p outside [0, 1] with a ValueError naming p", 1, '''
        G.assert_raises_value_error(dropout_backward, np.ones(3), np.ones(3, dtype=bool), 1.5, arg="p", what="dropout_backward(dout, mask, p=1.5)")
    ''', function="dropout_backward"),
    test("test_dropout_backward_no_inplace", "dropout_backward leaves dout and mask unchanged", 1, '''
        G.assert_no_inplace(dropout_backward, np.arange(1.0, 5.0), np.array([True, False, True, True]), 0.5, what="dropout_backward")
    ''', function="dropout_backward"),
]

MISTAKES = {
    "dropout_forward": ('''
def dropout_forward(x, p, training=True, rng=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    x = np.asarray(x, dtype=float)
    if not training or p == 0.0:
        return x.copy(), np.ones(x.shape, dtype=bool)
    if p == 1.0:
        return np.zeros_like(x), np.zeros(x.shape, dtype=bool)
    rng = np.random.default_rng() if rng is None else rng
    mask = rng.random(x.shape) < p  # keeps a unit with probability p instead of dropping it
    return x * mask / (1.0 - p), mask
''', {"test_dropout_forward_drop_fraction", "test_dropout_forward_mean_preserved"}),
    "dropout_backward": ('''
def dropout_backward(dout, mask, p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    return np.asarray(dout, dtype=float) * mask  # forgot the 1 / (1 - p) of inverted dropout
''', {"test_dropout_backward_values"}),
}

SHORTCUTS = {
    "dropout_forward": '''
import torch
def dropout_forward(x, p, training=True, rng=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    t = torch.as_tensor(np.asarray(x, dtype=float))
    out = torch.nn.functional.dropout(t, p, training).numpy()
    return out, (out != 0) | (not training) | (p == 0)
''',
    "dropout_backward": '''
def dropout_backward(dout, mask, p):
    return __import__("regnorm_lab").dropout_backward(dout, mask, p)
''',
}
