"""ps02_dropout: description of the source notebook (see ps01_penalties.py for the template)."""

from regnorm_lab.booktools import book_url
from regnorm_lab.course.authoring import answer, markdown, probe_setup, probe_test

A = "ps02_dropout"
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
    probe_setup(A),
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
    probe_test("test_dropout_forward_shapes", "dropout_forward returns an output and a boolean mask of x's shape", 1, function="dropout_forward", assignment=A),
    probe_test("test_dropout_forward_kept_scaled", "dropout_forward zeroes dropped units and scales kept ones by 1/(1-p)", 2, function="dropout_forward", assignment=A),
    probe_test("test_dropout_forward_drop_fraction", "dropout_forward drops each unit with probability p", 2, function="dropout_forward", assignment=A),
    probe_test("test_dropout_forward_mean_preserved", "dropout_forward keeps the expected value of x", 1, function="dropout_forward", assignment=A),
    probe_test("test_dropout_forward_identity", "dropout_forward returns x and an all-True mask when not training or p == 0", 1, function="dropout_forward", assignment=A),
    probe_test("test_dropout_forward_p_one", "dropout_forward with p == 1 drops everything (zeros, no NaN)", 1, function="dropout_forward", assignment=A),
    probe_test("test_dropout_forward_reproducible", "dropout_forward draws its mask from rng only (same seed, same mask)", 1, function="dropout_forward", assignment=A),
    probe_test("test_dropout_forward_errors", "dropout_forward rejects p outside [0, 1] with a ValueError naming p", 1, function="dropout_forward", assignment=A),
    probe_test("test_dropout_forward_no_inplace", "dropout_forward leaves x unchanged", 1, function="dropout_forward", assignment=A),
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
    probe_test("test_dropout_backward_values", "dropout_backward returns dout * mask / (1 - p)", 2, function="dropout_backward", assignment=A),
    probe_test("test_dropout_backward_p_one", "dropout_backward with p == 1 returns zeros (no NaN)", 1, function="dropout_backward", assignment=A),
    probe_test("test_dropout_backward_errors", "dropout_backward rejects p outside [0, 1] with a ValueError naming p", 1, function="dropout_backward", assignment=A),
    probe_test("test_dropout_backward_no_inplace", "dropout_backward leaves dout and mask unchanged", 1, function="dropout_backward", assignment=A),
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
