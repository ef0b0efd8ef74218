"""ps07_gpu_timing: the description `python -m regnorm_lab.course build-sources` turns into the source notebook.

Same template as ps01 (see ``regnorm_lab/course/authoring.py``): ``CELLS`` (the
notebook), ``MISTAKES`` (function -> (wrong answer cell, the test cells it must
fail)) and ``SHORTCUTS`` (answer cells that delegate instead of doing the work).
The tests in ``tests/course/test_ps07_gpu_timing.py`` plant these.

The test cells call the probe (``P.run``); their inputs and the grader's rules are in
``regnorm_lab/course/cases/ps07_gpu_timing.py``. Design, so that one mistake costs one
behaviour:

* ``forward`` compares with the reference on activations of large scale
  (row standard deviation >= 10), where the place of ``eps`` cannot show;
* ``eps`` compares on rows of tiny variance (eps dominates) in float32 with
  16384 features, where dividing by ``D - 1`` instead of ``D`` changes the result
  by 3e-5 relative, below float32's tolerance: only eps mistakes show;
* ``shapes`` and ``affine``/``weight`` compare the student's function with
  ITSELF (N-D input vs the same rows as a matrix; weight and bias vs ones and
  zeros), plus a check that rows come out normalised, so a wrong variance is
  not counted again there;
* ``device`` runs on ``DEVICE`` and on PyTorch's ``meta`` device (shapes, no data):
  a tensor created without ``device=x.device`` fails there as it would on a GPU;
* ``speed`` (``P.speed``) checks in the kernel only that rows come out normalised; the
  ratio against the reference is measured by the GRADER's clock
  (``regnorm_lab/course/clock.py``) in two fresh sandboxed kernels, never an absolute
  time and never a timer the student's kernel could replace. In a student's own
  notebook ``P.speed`` also measures the ratio locally (``regnorm_lab.timing``).
"""

from regnorm_lab.booktools import book_url
from regnorm_lab.course.authoring import answer, markdown, probe_setup, probe_test, setup, written

BOOK = book_url("14_gpu_timing.md")  # the address comes from _config.yml (repository.url)

A = "ps07_gpu_timing"

# After the probe: the device, picked inline (the grading sandbox has torch and the probe only).
DEVICE_SETUP = """\
import torch
import torch.nn.functional as F

# CUDA when this machine has a GPU, otherwise the CPU: every test and timing below runs there.
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.lower().startswith("model name"))
    except (OSError, StopIteration):  # not Linux
        import platform
        return platform.processor() or platform.machine()


if DEVICE.type == "cuda":
    print(f"Running on the GPU: {torch.cuda.get_device_name()} (CUDA {torch.version.cuda})")
else:
    print(f"Running on the CPU: {_cpu_name()} (no CUDA device found; the tests and timings are the same)")
print(f"  device: {DEVICE.type}")
print(f"  torch_version: {torch.__version__}")"""

REPORT = """\
# Not graded: your two functions next to the course's reference, the framework's fused
# kernels and a plain copy of the same tensor (the memory-bandwidth ceiling), on DEVICE.
# It needs the course package (pip install, see the course's For students page).
try:
    import regnorm_lab.timing as gt
except ImportError:
    gt = None
    print("The timing report needs the course package regnorm_lab (not installed here).")
ROWS = []
if gt is not None:
    import ctypes, sys
    import matplotlib.pyplot as plt
    if sys.platform.startswith("linux"):  # let glibc keep freed memory, as a GPU's allocator does: steadier CPU timings
        try:
            ctypes.CDLL("libc.so.6").mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD
            ctypes.CDLL("libc.so.6").mallopt(-1, 2**30)  # M_TRIM_THRESHOLD
        except (OSError, AttributeError):
            pass
    try:
        ROWS = gt.time_normalizations(gt.GRADING_SHAPES, [torch.float32], DEVICE, min_run_time=0.05,
                                      student={"layer_norm": layer_norm, "rms_norm": rms_norm})
    except NotImplementedError:
        print("Write layer_norm and rms_norm first: this report times them.")
if ROWS:
    with gt.set_cpu_threads(1):  # the timings ran on one CPU thread; say so in the report
        _env = gt.describe_environment(DEVICE)
    print(gt.format_report(ROWS, _env))
    gt.plot_bandwidth(ROWS, env=_env)
    plt.show()"""

WRITTEN_PROMPT = """\
## 4. What limits the speed? (written answer, graded by hand, 3 points)

Look at the report above: the GB/s of your functions, of the reference, of the fused
kernels and of the copy. In a few sentences: what limits the speed of a normalization
layer (arithmetic or memory traffic?), why is the fused kernel faster than your function
and the reference although all three do the same arithmetic, and why can no
normalization beat the copy? Quote your own numbers and say which device they are from.
Write your answer in the cell below."""

WRITTEN_ANSWER = """\
(Model answer for the grader; full marks need the memory-traffic argument, the fused vs
composite explanation and the student's own numbers with their device.)

Normalization does a handful of operations per element (a subtraction, a multiply, a few
adds for the mean and variance), far less arithmetic per byte than the processor could do
while the bytes arrive, so it is limited by memory traffic, not by FLOPs. Each tensor
operation of a composite implementation is its own kernel that reads and writes the whole
tensor (`x - mean`, `* rsqrt(...)`, `* weight`, `+ bias`: four or five full passes) and
needs fresh memory for every temporary; the fused kernel reads `x` once and writes the
output once. The copy moves exactly that minimum (read `x`, write a tensor of the same
size) with no arithmetic, so it is the ceiling: a normalization must move at least as many
bytes. On the course's CPU (AMD EPYC, one thread, 8192 x 256 float32, a shared machine)
the fused layer norm reached about 70-80 % of the copy's GB/s, the reference and my
function about 5 %: 13-17x slower, more than five passes predict, because `torch.var_mean`'s
one-pass (Welford) reduction does more arithmetic per element than a plain sum on a CPU
(the book chapter measures it). RMS norm, three cheap passes, reached 30-55 % of the copy,
as fast as `F.rms_norm`, which on a CPU is not a single fused kernel. On a GPU each
operation of a composite also costs a kernel launch and a full trip through memory."""


CELLS = [
    markdown(f"""
        # ps07 · Layer norm and RMS norm, fast, on a GPU if you have one

        This assignment goes with the book chapter
        [Timing normalization on a GPU]({BOOK}).
        You write two PyTorch functions with **tensor operations only** (no
        `F.layer_norm`, `nn.LayerNorm`, `torch.layer_norm`, `F.rms_norm`, `torch.rms_norm`,
        `nn.RMSNorm`, and not the course's `regnorm_lab` reference):

        | function | returns |
        |---|---|
        | `layer_norm(x, weight, bias, eps=1e-5)` | each row of the last dimension normalised with its mean and **biased** variance, then `* weight + bias`: as `F.layer_norm(x, (x.shape[-1],), weight, bias, eps)` |
        | `rms_norm(x, weight, eps=1e-6)` | each row divided by its root mean square, then `* weight`: as `F.rms_norm(x, (x.shape[-1],), weight, eps)` |

        Rules (they are graded, one test cell per behaviour):

        * `x` has any leading shape: `(D,)`, `(N, D)`, `(B, T, D)`, ...; `weight` and `bias` have shape `(D,)`.
        * The result has the shape, the dtype (float32 or float64) and the **device** of `x`:
          if you create a tensor, create it on `x.device`.
        * `eps` is added to the variance (mean square) *inside* the square root.
        * Never modify `x` in place.
        * **Speed counts**: your function may take at most 3× the time of the course's
          reference on the same device and inputs (8192 rows of 256 features, float32).
          The grader times both on the CPU, one thread, even on a machine with a GPU;
          the speed check in this notebook times on your `DEVICE`. A Python loop over the rows is far slower; whole-tensor operations (reductions
          over `dim=-1` with `keepdim=True`, broadcasting) are fast. Compute in the dtype
          of `x`: converting float32 to float64 doubles the bytes every operation moves,
          and on a CPU that alone comes out at about 3-5× the reference.

        The notebook runs on a CUDA GPU when there is one, otherwise on the CPU; the setup
        cell says which. (On Colab: *Runtime → Change runtime type → GPU*, then add the
        cell that installs the course package, from the course's *For students* page.)
        The speed is graded as a *ratio* measured on the same machine, so it means the same
        on a GPU and on a CPU.
        At the end, a report times your functions against the fused kernels and a plain
        copy, and you explain what limits the speed.

        Each function has its own answer cell (replace `raise NotImplementedError()`),
        followed by test cells. The visible checks help you debug; more checks of the same
        behaviours are hidden and run when your work is graded. Run
        **Kernel → Restart & Run All** before you submit.
    """),
    probe_setup(A, DEVICE_SETUP),
    markdown("""
        ## 1. `layer_norm(x, weight, bias, eps=1e-5)`

        For each row $x \\in \\mathbb{R}^D$ of the last dimension, with
        $\\mu = \\frac{1}{D}\\sum_i x_i$ and the biased variance $\\sigma^2 = \\frac{1}{D}\\sum_i (x_i - \\mu)^2$:

        $$y_i = \\frac{x_i - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}}\\,w_i + b_i$$
    """),
    answer("layer_norm", '''
        def layer_norm(x, weight, bias, eps=1e-5):
            """Layer norm over the last dimension of x (any leading shape), as F.layer_norm(x, (x.shape[-1],), weight, bias, eps)."""
            ### BEGIN SOLUTION
            # one pass computes both statistics; correction=0 is the biased variance
            var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
            return (x - mean) * torch.rsqrt(var + eps) * weight + bias
            ### END SOLUTION
    '''),
    probe_test("test_layer_norm_forward", "layer_norm normalises each row with its mean and biased variance, as F.layer_norm", 3, function="layer_norm", assignment=A),
    probe_test("test_layer_norm_shapes", "layer_norm works on any leading shape and keeps the shape of x", 1, function="layer_norm", assignment=A),
    probe_test("test_layer_norm_dtype", "layer_norm returns the dtype of x (float32 stays float32, float64 stays float64)", 1, function="layer_norm", assignment=A),
    probe_test("test_layer_norm_affine", "layer_norm scales by weight and shifts by bias after normalising", 2, function="layer_norm", assignment=A),
    probe_test("test_layer_norm_eps", "layer_norm adds eps to the variance inside the square root (default 1e-5)", 1, function="layer_norm", assignment=A),
    probe_test("test_layer_norm_no_inplace", "layer_norm leaves x, weight and bias unchanged", 1, function="layer_norm", assignment=A),
    probe_test("test_layer_norm_device", "layer_norm returns its result on the device of x (DEVICE, and PyTorch's data-less meta device)", 1, function="layer_norm", assignment=A),
    probe_test("test_layer_norm_speed", "layer_norm is vectorised: at most 3x the reference's time on 8192 x 256 float32, measured here on DEVICE and by the grader on its CPU", 2, function="layer_norm", assignment=A),
    markdown("""
        ## 2. `rms_norm(x, weight, eps=1e-6)`

        RMS norm (Zhang and Sennrich, 2019) leaves out the centring and the bias: for each row
        $x \\in \\mathbb{R}^D$ of the last dimension,

        $$y_i = \\frac{x_i}{\\sqrt{\\frac{1}{D}\\sum_j x_j^2 + \\epsilon}}\\,w_i$$

        Note the course's default `eps=1e-6` (`F.rms_norm` itself defaults to `eps=None`).
    """),
    answer("rms_norm", '''
        def rms_norm(x, weight, eps=1e-6):
            """RMS norm over the last dimension of x (any leading shape), as F.rms_norm(x, (x.shape[-1],), weight, eps)."""
            ### BEGIN SOLUTION
            return x * torch.rsqrt(x.square().mean(dim=-1, keepdim=True) + eps) * weight
            ### END SOLUTION
    '''),
    probe_test("test_rms_norm_forward", "rms_norm divides each row by its root mean square, as F.rms_norm", 3, function="rms_norm", assignment=A),
    probe_test("test_rms_norm_shapes", "rms_norm works on any leading shape and keeps the shape of x", 1, function="rms_norm", assignment=A),
    probe_test("test_rms_norm_dtype", "rms_norm returns the dtype of x (float32 stays float32, float64 stays float64)", 1, function="rms_norm", assignment=A),
    probe_test("test_rms_norm_weight", "rms_norm scales by weight after normalising", 1, function="rms_norm", assignment=A),
    probe_test("test_rms_norm_eps", "rms_norm adds eps to the mean square inside the square root (default 1e-6)", 1, function="rms_norm", assignment=A),
    probe_test("test_rms_norm_no_inplace", "rms_norm leaves x and weight unchanged", 1, function="rms_norm", assignment=A),
    probe_test("test_rms_norm_device", "rms_norm returns its result on the device of x (DEVICE, and PyTorch's data-less meta device)", 1, function="rms_norm", assignment=A),
    probe_test("test_rms_norm_speed", "rms_norm is vectorised: at most 3x the reference's time on 8192 x 256 float32, measured here on DEVICE and by the grader on its CPU", 2, function="rms_norm", assignment=A),
    markdown("""
        ## 3. Your functions next to the fused kernels and a copy (not graded)

        The next cell times, on `DEVICE` and at one CPU thread, your two functions, the course's
        reference (plain tensor operations, like yours), the framework's fused kernels
        (`F.layer_norm`, `F.rms_norm`) and a plain copy of the same tensor (`x.clone()`), which
        reads `x` and writes a tensor of the same size and does nothing else: no normalization
        can move fewer bytes, so the copy's GB/s is the ceiling. "GB/s" divides the bytes an
        ideal single-pass kernel must move by the measured median time (see the book chapter).
    """),
    setup(REPORT, grade_id="timing_report"),
    markdown(WRITTEN_PROMPT),
    written("written_answer", 3, "### BEGIN SOLUTION\n" + WRITTEN_ANSWER + "\n### END SOLUTION"),
]

# One wrong answer per function and the test cells it must fail (all other cells keep their points).
MISTAKES = {
    "layer_norm": ('''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True)  # the unbiased variance (divides by D - 1), not layer norm's
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
''', {"test_layer_norm_forward"}),
    "rms_norm": ('''
def rms_norm(x, weight, eps=1e-6):
    rms = torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True))
    return x * (1.0 / (rms + eps)) * weight  # eps outside the square root
''', {"test_rms_norm_eps"}),
}

# Answers that delegate instead of doing the work, each hiding it a different way
# (the grader must catch both).
SHORTCUTS = {
    "layer_norm": '''
def layer_norm(x, weight, bias, eps=1e-5):
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)
''',
    "rms_norm": '''
import torch as _t
_norms = {"rms": getattr(_t, "rms" + "_norm")}
def rms_norm(x, weight, eps=1e-6):
    return _norms["rms"](x, (x.shape[-1],), weight, eps)
''',
}
