"""ps03_feature_scaling: description of the source notebook (see ps01_penalties.py for the template)."""

from regnorm_lab.booktools import book_url
from regnorm_lab.course.authoring import answer, markdown, probe_setup, probe_test

A = "ps03_feature_scaling"
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
    probe_setup(A),
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
    probe_test("test_min_max_scale_train", "min_max_scale maps each training column onto [0, 1]", 2, function="min_max_scale", assignment=A),
    probe_test("test_min_max_scale_test_uses_train_stats", "min_max_scale scales the test set with the training min and max (no leakage)", 2, function="min_max_scale", assignment=A),
    probe_test("test_min_max_scale_feature_range", "min_max_scale honours feature_range", 1, function="min_max_scale", assignment=A),
    probe_test("test_min_max_scale_constant_column", "min_max_scale maps a constant training column to feature_range[0]", 1, function="min_max_scale", assignment=A),
    probe_test("test_min_max_scale_errors", "min_max_scale rejects a feature_range whose low is not below its high", 1, function="min_max_scale", assignment=A),
    probe_test("test_min_max_scale_no_inplace", "min_max_scale leaves X_train and X_test unchanged", 1, function="min_max_scale", assignment=A),
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
    probe_test("test_z_score_train", "z_score standardises each training column with its mean and population std", 2, function="z_score", assignment=A),
    probe_test("test_z_score_test_uses_train_stats", "z_score scales the test set with the training mean and std (no leakage)", 2, function="z_score", assignment=A),
    probe_test("test_z_score_constant_column", "z_score takes the std of a constant training column as 1", 1, function="z_score", assignment=A),
    probe_test("test_z_score_no_inplace", "z_score leaves X_train and X_test unchanged", 1, function="z_score", assignment=A),
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
