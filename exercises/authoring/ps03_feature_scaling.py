"""ps03_feature_scaling: description of the source notebook (see ps01_penalties.py for the template)."""

from regnorm_lab.booktools import book_url
from regnorm_lab.course.authoring import answer, markdown, setup, test

BOOK = book_url("02_feature_scaling.md")  # the address comes from _config.yml (repository.url)

CELLS = [
    markdown(f"""
        # ps03 · Feature scaling without leakage

        This assignment goes with the book chapter
        [The role of normalization]({BOOK}).
        You write min-max scaling and z-score standardisation in numpy, as
        scikit-learn's `MinMaxScaler` and `StandardScaler` do them: the statistics
        (per-column min and max, mean and standard deviation) come from `X_train`
        **alone**, and the same transformation is then applied to `X_test`.
        Using the test set's own statistics leaks information about it.

        | function | returns |
        |---|---|
        | `min_max_scale(X_train, X_test, feature_range=(0.0, 1.0))` | `(train_scaled, test_scaled)`; a constant training column maps to `feature_range[0]` |
        | `z_score(X_train, X_test)` | `(train_scaled, test_scaled)` with the training mean and population std (`ddof=0`); a constant training column has std taken as 1 |

        Rules (they are graded):

        * `X_train` is `(n_train, d)` and `X_test` is `(n_test, d)`; never modify them in place.
        * `feature_range=(low, high)` with `low >= high` raises `ValueError` whose message names `feature_range`.
        * Write it yourself with numpy: a function that uses `sklearn.preprocessing`
          or `regnorm_lab` earns no points.

        Run **Kernel → Restart & Run All** before you submit.
    """),
    setup(),
    markdown("""
        ## 1. `min_max_scale(X_train, X_test, feature_range=(0.0, 1.0))`

        $x' = \\text{low} + (x - \\min_{\\text{train}})\\,\\dfrac{\\text{high} - \\text{low}}{\\max_{\\text{train}} - \\min_{\\text{train}}}$, per column.
    """),
    answer("min_max_scale", '''
        def min_max_scale(X_train, X_test, feature_range=(0.0, 1.0)):
            """Min-max scaling fitted on X_train only; returns (train_scaled, test_scaled)."""
            ### BEGIN SOLUTION
            low, high = feature_range
            if not low < high:
                raise ValueError(f"feature_range must have low < high, got {feature_range}")
            X_train = np.asarray(X_train, dtype=float)
            X_test = np.asarray(X_test, dtype=float)
            lo = X_train.min(axis=0)
            span = X_train.max(axis=0) - lo
            span = np.where(span == 0, 1.0, span)  # constant column: maps to low
            scale = (high - low) / span
            return (X_train - lo) * scale + low, (X_test - lo) * scale + low
            ### END SOLUTION
    '''),
    test("test_min_max_scale_train", "min_max_scale maps each training column onto [0, 1]", 2, '''
        _Xtr = np.array([[1.0, 10.0], [3.0, 20.0], [2.0, 30.0]])
        _tr, _te = min_max_scale(_Xtr, _Xtr[:1])
        G.check_close(_tr, np.array([[0.0, 0.0], [1.0, 0.5], [0.5, 1.0]]), "min_max_scale: the scaled training set")
        ### BEGIN HIDDEN TESTS
        _rng = np.random.default_rng(101)
        for _n, _d in [(5, 1), (40, 6), (200, 3)]:
            _Xtr = _rng.normal(3.0, 5.0, size=(_n, _d))
            _Xte = _rng.normal(3.0, 5.0, size=(7, _d))
            G.check_close(min_max_scale(_Xtr.copy(), _Xte.copy())[0], G.reference("min_max_scale")(_Xtr.copy(), _Xte.copy())[0], f"min_max_scale: training set of shape {(_n, _d)}")
        ### END HIDDEN TESTS
    ''', function="min_max_scale"),
    test("test_min_max_scale_test_uses_train_stats", "min_max_scale scales the test set with the training min and max (no leakage)", 2, '''
        _Xtr = np.array([[0.0], [10.0]])
        _Xte = np.array([[5.0], [20.0], [-10.0]])
        _tr, _te = min_max_scale(_Xtr, _Xte)
        G.check_close(_te, np.array([[0.5], [2.0], [-1.0]]), "min_max_scale: the scaled test set (training min 0, max 10; values may leave [0, 1])")
        ### BEGIN HIDDEN TESTS
        _rng = np.random.default_rng(202)
        for _n, _d in [(6, 2), (50, 4)]:
            _Xtr = _rng.uniform(-2.0, 2.0, size=(_n, _d))
            _Xte = _rng.uniform(-4.0, 4.0, size=(9, _d))
            G.check_close(min_max_scale(_Xtr.copy(), _Xte.copy())[1], G.reference("min_max_scale")(_Xtr.copy(), _Xte.copy())[1], f"min_max_scale: test set with training shape {(_n, _d)}")
        ### END HIDDEN TESTS
    ''', function="min_max_scale"),
    test("test_min_max_scale_feature_range", "min_max_scale honours feature_range", 1, '''
        _Xtr = np.array([[1.0, 10.0], [3.0, 20.0], [2.0, 30.0]])
        _tr, _ = min_max_scale(_Xtr, _Xtr, feature_range=(-1.0, 1.0))
        G.check_close(_tr, np.array([[-1.0, -1.0], [1.0, 0.0], [0.0, 1.0]]), "min_max_scale(..., feature_range=(-1, 1)): the scaled training set")
    ''', function="min_max_scale"),
    test("test_min_max_scale_constant_column", "min_max_scale maps a constant training column to feature_range[0]", 1, '''
        _Xtr = np.array([[5.0, 1.0], [5.0, 2.0], [5.0, 3.0]])
        _tr, _ = min_max_scale(_Xtr, _Xtr, feature_range=(2.0, 4.0))
        G.check_close(_tr[:, 0], np.full(3, 2.0), "min_max_scale: a constant training column (must map to feature_range[0], no NaN)")
    ''', function="min_max_scale"),
    test("test_min_max_scale_errors", "min_max_scale rejects a feature_range whose low is not below its high", 1, '''
        _X = np.ones((3, 2))
        G.assert_raises_value_error(min_max_scale, _X, _X, feature_range=(1.0, 1.0), arg="feature_range", what="min_max_scale(..., feature_range=(1, 1))")
        G.assert_raises_value_error(min_max_scale, _X, _X, feature_range=(2.0, 0.0), arg="feature_range", what="min_max_scale(..., feature_range=(2, 0))")
    ''', function="min_max_scale"),
    test("test_min_max_scale_no_inplace", "min_max_scale leaves X_train and X_test unchanged", 1, '''
        G.assert_no_inplace(min_max_scale, np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[2.0, 2.0]]), what="min_max_scale")
    ''', function="min_max_scale"),
    markdown("""
        ## 2. `z_score(X_train, X_test)`

        $x' = (x - \\mu_{\\text{train}}) / \\sigma_{\\text{train}}$ per column, with the population
        standard deviation (`ddof=0`, as `StandardScaler`); a constant training column has $\\sigma$ taken as 1.
    """),
    answer("z_score", '''
        def z_score(X_train, X_test):
            """Standardise with the training mean and population std; returns (train_scaled, test_scaled)."""
            ### BEGIN SOLUTION
            X_train = np.asarray(X_train, dtype=float)
            X_test = np.asarray(X_test, dtype=float)
            mean = X_train.mean(axis=0)
            std = X_train.std(axis=0)
            std = np.where(std == 0, 1.0, std)  # constant column: std taken as 1
            return (X_train - mean) / std, (X_test - mean) / std
            ### END SOLUTION
    '''),
    test("test_z_score_train", "z_score standardises each training column with its mean and population std", 2, '''
        _Xtr = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0], [7.0, 40.0]])
        _tr, _ = z_score(_Xtr, _Xtr[:1])
        _s = np.sqrt(5.0)
        G.check_close(_tr, np.array([[-3 / _s, -1.0], [-1 / _s, -1.0], [1 / _s, 1.0], [3 / _s, 1.0]]), "z_score: the scaled training set (population std, ddof=0)")
        ### BEGIN HIDDEN TESTS
        _rng = np.random.default_rng(303)
        for _n, _d in [(3, 1), (30, 5), (300, 2)]:
            _Xtr = _rng.normal(-4.0, 3.0, size=(_n, _d))
            _Xte = _rng.normal(-4.0, 3.0, size=(5, _d))
            G.check_close(z_score(_Xtr.copy(), _Xte.copy())[0], G.reference("z_score")(_Xtr.copy(), _Xte.copy())[0], f"z_score: training set of shape {(_n, _d)}")
        ### END HIDDEN TESTS
    ''', function="z_score"),
    test("test_z_score_test_uses_train_stats", "z_score scales the test set with the training mean and std (no leakage)", 2, '''
        _Xtr = np.array([[0.0], [2.0]])
        _Xte = np.array([[1.0], [5.0]])
        _, _te = z_score(_Xtr, _Xte)
        G.check_close(_te, np.array([[0.0], [4.0]]), "z_score: the scaled test set (training mean 1, std 1)")
        ### BEGIN HIDDEN TESTS
        _rng = np.random.default_rng(404)
        for _n, _d in [(8, 3), (60, 2)]:
            _Xtr = _rng.normal(1.0, 2.0, size=(_n, _d))
            _Xte = _rng.normal(0.0, 4.0, size=(11, _d))
            G.check_close(z_score(_Xtr.copy(), _Xte.copy())[1], G.reference("z_score")(_Xtr.copy(), _Xte.copy())[1], f"z_score: test set with training shape {(_n, _d)}")
        ### END HIDDEN TESTS
    ''', function="z_score"),
    test("test_z_score_constant_column", "z_score takes the std of a constant training column as 1", 1, '''
        _Xtr = np.array([[5.0, 1.0], [5.0, 2.0], [5.0, 3.0]])
        _tr, _te = z_score(_Xtr, np.array([[7.0, 2.0]]))
        G.check_close(_tr[:, 0], np.zeros(3), "z_score: a constant training column (std taken as 1, no NaN)")
        G.check_close(_te[:, 0], np.array([2.0]), "z_score: the test value of a constant training column (x - mean, std 1)")
    ''', function="z_score"),
    test("test_z_score_no_inplace", "z_score leaves X_train and X_test unchanged", 1, '''
        G.assert_no_inplace(z_score, np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[2.0, 2.0]]), what="z_score")
    ''', function="z_score"),
]

MISTAKES = {
    "min_max_scale": ('''
def min_max_scale(X_train, X_test, feature_range=(0.0, 1.0)):
    low, high = feature_range
    if not low < high:
        raise ValueError(f"feature_range must have low < high, got {feature_range}")
    def fit_transform(X):  # fits each set on its own min and max: the test set leaks
        X = np.asarray(X, dtype=float)
        lo = X.min(axis=0)
        span = X.max(axis=0) - lo
        span = np.where(span == 0, 1.0, span)
        return (X - lo) * (high - low) / span + low
    return fit_transform(X_train), fit_transform(X_test)
''', {"test_min_max_scale_test_uses_train_stats"}),
    "z_score": ('''
def z_score(X_train, X_test):
    X_train = np.asarray(X_train, dtype=float)
    X_test = np.asarray(X_test, dtype=float)
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0, ddof=1)  # sample std, not StandardScaler's population std
    std = np.where(std == 0, 1.0, std)
    return (X_train - mean) / std, (X_test - mean) / std
''', {"test_z_score_train", "test_z_score_test_uses_train_stats"}),
}

SHORTCUTS = {
    "min_max_scale": '''
from sklearn.preprocessing import MinMaxScaler
def min_max_scale(X_train, X_test, feature_range=(0.0, 1.0)):
    if not feature_range[0] < feature_range[1]:
        raise ValueError("feature_range")
    scaler = MinMaxScaler(feature_range=feature_range).fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)
''',
    "z_score": '''
import importlib
def z_score(X_train, X_test):
    return getattr(importlib.import_module("regnorm" + "_lab"), "z_" + "score")(X_train, X_test)
''',
}
