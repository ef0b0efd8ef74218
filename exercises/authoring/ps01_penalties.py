"""ps01_penalties: the description `python -m regnorm_lab.course build-sources` turns into the source notebook.

Template for every assignment (see ``regnorm_lab/course/authoring.py``):
``CELLS`` (the notebook), ``MISTAKES`` (function -> (wrong answer cell, the test
cells it must fail)) and ``SHORTCUTS`` (answer cells that delegate instead of
doing the work). The tests in ``tests/course/`` plant these as submissions.
"""

from regnorm_lab.booktools import book_url
from regnorm_lab.course.authoring import answer, markdown, probe_setup, probe_test

A = "ps01_penalties"
BOOK = book_url("01_penalties.md")  # the address comes from _config.yml (repository.url)

CELLS = [
    markdown(f"""
        # ps01 · Penalties: L1, L2 and Elastic Net

        This assignment goes with the book chapter
        [Understanding regularization: L1, L2, Elastic Net]({BOOK}).
        You write six numpy functions, with the conventions of Keras'
        `keras.regularizers.l1`, `l2` and `l1_l2` (the penalty is added to the loss
        exactly as written, no factor 1/2):

        | function | returns |
        |---|---|
        | `l1_penalty(w, lam)` | `lam * sum(abs(w))` as a Python float |
        | `l2_penalty(w, lam)` | `lam * sum(w**2)` as a Python float |
        | `elastic_net_penalty(w, l1, l2)` | `l1 * sum(abs(w)) + l2 * sum(w**2)` as a Python float |
        | `l1_grad(w, lam)` | `lam * sign(w)` (0 where `w == 0`), shape of `w` |
        | `l2_grad(w, lam)` | `2 * lam * w`, shape of `w` |
        | `soft_threshold(w, t)` | `sign(w) * maximum(abs(w) - t, 0)` |

        Rules (they are graded):

        * `w` is a numpy array of any shape (also 0-d); never modify it in place.
        * A negative `lam`, `l1`, `l2` or `t` raises `ValueError` whose message names the argument.
        * Write the computation yourself with numpy. A function that only calls
          `regnorm_lab` (the course's reference) earns no points.

        Each function has its own answer cell (replace `raise NotImplementedError()`),
        followed by test cells. Each test cell checks one behaviour; the visible
        checks help you debug, and more checks of the same behaviour are hidden and
        run when your work is graded. Run **Kernel → Restart & Run All** before you
        submit.
    """),
    probe_setup(A),
    markdown("""
        ## 1. `l1_penalty(w, lam)`

        $\\lambda \\sum_i |w_i|$, returned as a Python `float` (use `float(...)`).
    """),
    answer("l1_penalty", '''
        def l1_penalty(w, lam):
            """L1 penalty lam * sum(|w|) as a Python float; ValueError naming 'lam' if lam < 0."""
            ### BEGIN SOLUTION
            if lam < 0:
                raise ValueError(f"lam must be >= 0, got {lam}")
            return float(lam * np.sum(np.abs(np.asarray(w, dtype=np.float64))))
            ### END SOLUTION
    '''),
    probe_test("test_l1_penalty_forward", "l1_penalty returns lam * sum(|w|) as a float", 2, function="l1_penalty", assignment=A),
    probe_test("test_l1_penalty_errors", "l1_penalty rejects a negative lam with a ValueError naming lam", 1, function="l1_penalty", assignment=A),
    probe_test("test_l1_penalty_no_inplace", "l1_penalty leaves w unchanged", 1, function="l1_penalty", assignment=A),
    markdown("""
        ## 2. `l2_penalty(w, lam)`

        $\\lambda \\sum_i w_i^2$ (Keras convention: no factor 1/2), as a Python `float`.
    """),
    answer("l2_penalty", '''
        def l2_penalty(w, lam):
            """L2 penalty lam * sum(w**2) as a Python float; ValueError naming 'lam' if lam < 0."""
            ### BEGIN SOLUTION
            if lam < 0:
                raise ValueError(f"lam must be >= 0, got {lam}")
            w = np.asarray(w, dtype=np.float64)
            return float(lam * np.sum(w * w))
            ### END SOLUTION
    '''),
    probe_test("test_l2_penalty_forward", "l2_penalty returns lam * sum(w**2) as a float", 2, function="l2_penalty", assignment=A),
    probe_test("test_l2_penalty_errors", "l2_penalty rejects a negative lam with a ValueError naming lam", 1, function="l2_penalty", assignment=A),
    probe_test("test_l2_penalty_no_inplace", "l2_penalty leaves w unchanged", 1, function="l2_penalty", assignment=A),
    markdown("""
        ## 3. `elastic_net_penalty(w, l1, l2)`

        $\\ell_1 \\sum_i |w_i| + \\ell_2 \\sum_i w_i^2$, as `keras.regularizers.l1_l2(l1, l2)`.
        A negative `l1` or `l2` raises `ValueError` naming the one that is negative.
    """),
    answer("elastic_net_penalty", '''
        def elastic_net_penalty(w, l1, l2):
            """l1 * sum(|w|) + l2 * sum(w**2) as a Python float; ValueError naming 'l1' or 'l2' if negative."""
            ### BEGIN SOLUTION
            if l1 < 0:
                raise ValueError(f"l1 must be >= 0, got {l1}")
            if l2 < 0:
                raise ValueError(f"l2 must be >= 0, got {l2}")
            w = np.asarray(w, dtype=np.float64)
            return float(l1 * np.sum(np.abs(w)) + l2 * np.sum(w * w))
            ### END SOLUTION
    '''),
    probe_test("test_elastic_net_penalty_forward", "elastic_net_penalty returns l1 * sum(|w|) + l2 * sum(w**2)", 2, function="elastic_net_penalty", assignment=A),
    probe_test("test_elastic_net_penalty_errors", "elastic_net_penalty rejects a negative l1 or l2 with a ValueError naming it", 1, function="elastic_net_penalty", assignment=A),
    probe_test("test_elastic_net_penalty_no_inplace", "elastic_net_penalty leaves w unchanged", 1, function="elastic_net_penalty", assignment=A),
    markdown("""
        ## 4. `l1_grad(w, lam)`

        The (sub)gradient of the L1 penalty: $\\lambda\\,\\mathrm{sign}(w)$, with 0 where `w == 0`,
        as an array of the shape of `w`.
    """),
    answer("l1_grad", '''
        def l1_grad(w, lam):
            """lam * sign(w) (0 where w == 0), shape of w; ValueError naming 'lam' if lam < 0."""
            ### BEGIN SOLUTION
            if lam < 0:
                raise ValueError(f"lam must be >= 0, got {lam}")
            return lam * np.sign(np.asarray(w, dtype=float))
            ### END SOLUTION
    '''),
    probe_test("test_l1_grad_forward", "l1_grad returns lam * sign(w), 0 where w == 0, with the shape of w", 2, function="l1_grad", assignment=A),
    probe_test("test_l1_grad_errors", "l1_grad rejects a negative lam with a ValueError naming lam", 1, function="l1_grad", assignment=A),
    probe_test("test_l1_grad_no_inplace", "l1_grad leaves w unchanged", 1, function="l1_grad", assignment=A),
    markdown("""
        ## 5. `l2_grad(w, lam)`

        The gradient of the L2 penalty: $2\\lambda w$, shape of `w`.
    """),
    answer("l2_grad", '''
        def l2_grad(w, lam):
            """2 * lam * w, shape of w; ValueError naming 'lam' if lam < 0."""
            ### BEGIN SOLUTION
            if lam < 0:
                raise ValueError(f"lam must be >= 0, got {lam}")
            return 2.0 * lam * np.asarray(w, dtype=float)
            ### END SOLUTION
    '''),
    probe_test("test_l2_grad_forward", "l2_grad returns 2 * lam * w with the shape of w", 2, function="l2_grad", assignment=A),
    probe_test("test_l2_grad_errors", "l2_grad rejects a negative lam with a ValueError naming lam", 1, function="l2_grad", assignment=A),
    probe_test("test_l2_grad_no_inplace", "l2_grad leaves w unchanged", 1, function="l2_grad", assignment=A),
    markdown("""
        ## 6. `soft_threshold(w, t)`

        The proximal step of $t\\,\\lVert w\\rVert_1$:
        $\\mathrm{sign}(w)\\max(|w| - t, 0)$. Entries with $|w| \\le t$ become exactly 0:
        this is where L1's sparsity comes from.
    """),
    answer("soft_threshold", '''
        def soft_threshold(w, t):
            """sign(w) * max(|w| - t, 0), shape of w; ValueError naming 't' if t < 0."""
            ### BEGIN SOLUTION
            if t < 0:
                raise ValueError(f"t must be >= 0, got {t}")
            w = np.asarray(w, dtype=float)
            return np.sign(w) * np.maximum(np.abs(w) - t, 0.0)
            ### END SOLUTION
    '''),
    probe_test("test_soft_threshold_forward", "soft_threshold shrinks every entry by t towards 0", 2, function="soft_threshold", assignment=A),
    probe_test("test_soft_threshold_sparsity", "soft_threshold sets exactly the entries with |w| <= t to 0", 1, function="soft_threshold", assignment=A),
    probe_test("test_soft_threshold_errors", "soft_threshold rejects a negative t with a ValueError naming t", 1, function="soft_threshold", assignment=A),
    probe_test("test_soft_threshold_no_inplace", "soft_threshold leaves w unchanged", 1, function="soft_threshold", assignment=A),
]

# One wrong answer per function and the test cells it must fail (all other cells keep their points).
MISTAKES = {
    "l1_penalty": ('''
def l1_penalty(w, lam):
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    return float(lam * np.sum(w))  # forgot the absolute value
''', {"test_l1_penalty_forward"}),
    "l2_penalty": ('''
def l2_penalty(w, lam):
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    return float(0.5 * lam * np.sum(np.asarray(w) ** 2))  # a factor 1/2 the Keras convention does not have
''', {"test_l2_penalty_forward"}),
    "elastic_net_penalty": ('''
def elastic_net_penalty(w, l1, l2):
    if l1 < 0:
        raise ValueError(f"l1 must be >= 0, got {l1}")
    w = np.asarray(w, dtype=float)
    return float(l1 * np.sum(np.abs(w)) + l2 * np.sum(w * w))  # l2 is never checked
''', {"test_elastic_net_penalty_errors"}),
    "l1_grad": ('''
def l1_grad(w, lam):
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    np.sign(w, out=w)  # overwrites the caller's weights
    w *= lam
    return w
''', {"test_l1_grad_no_inplace"}),
    "l2_grad": ('''
def l2_grad(w, lam):
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    return lam * np.asarray(w, dtype=float)  # forgot the factor 2
''', {"test_l2_grad_forward"}),
    "soft_threshold": ('''
def soft_threshold(w, t):
    if t < 0:
        raise ValueError(f"t must be >= 0, got {t}")
    w = np.asarray(w, dtype=float)
    return np.sign(w) * (np.abs(w) - t)  # no max(., 0): small entries flip sign instead of becoming 0
''', {"test_soft_threshold_forward", "test_soft_threshold_sparsity"}),
}

# Answers that delegate instead of doing the work, each hiding it a different way
# (the grader must catch every one). soft_threshold stays an honest answer.
SHORTCUTS = {
    "l1_penalty": "from regnorm_lab import l1_penalty",
    "l2_penalty": '''
def l2_penalty(w, lam):
    import regnorm_lab.penalties as ref
    return ref.l2_penalty(w, lam)
''',
    "elastic_net_penalty": '''
import importlib
def elastic_net_penalty(w, l1, l2):
    module = importlib.import_module("regnorm" + "_lab")
    return getattr(module, "elastic_net_" + "penalty")(w, l1, l2)
''',
    "l1_grad": '''
import regnorm_lab as _r
def l1_grad(w, lam, _impl=_r.l1_grad):
    return _impl(w, lam)
''',
    "l2_grad": '''
def _helper(w, lam):
    from regnorm_lab import penalties
    return penalties.l2_grad(w, lam)
def l2_grad(w, lam):
    return _helper(w, lam)
''',
}
