"""ps07_gpu_timing: the description `python -m regnorm_lab.course build-sources` turns into the source notebook.

Same template as ps01 (see ``regnorm_lab/course/authoring.py``): ``CELLS`` (the
notebook), ``MISTAKES`` (function -> (wrong answer cell, the test cells it must
fail)) and ``SHORTCUTS`` (answer cells that delegate instead of doing the work).
The tests in ``tests/course/test_ps07_gpu_timing.py`` plant these.

Design of the test cells, so that one mistake costs one behaviour:

* ``forward`` compares with ``torch.nn.functional`` on activations of large scale
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
* ``speed`` is a ratio against the reference on the same device and inputs
  (``regnorm_lab.timing.speed_ratio``), never an absolute time.
"""

from regnorm_lab.booktools import book_url
from regnorm_lab.course.authoring import answer, markdown, setup, test, written

BOOK = book_url("14_gpu_timing.md")  # the address comes from _config.yml (repository.url)

SETUP = """\
# Setup (read-only): the libraries, the course's grading helpers and its timing module.
import numpy as np
import torch
import torch.nn.functional as F
import regnorm_lab.grading as G
import regnorm_lab.timing as gt
import ctypes, sys

# Timing on a Linux CPU: let malloc keep and reuse freed memory, as PyTorch's caching
# allocator does on a GPU. Otherwise glibc returns some large temporaries to the system and
# maps them again page by page on the next call, depending on the state of the heap: the
# same code then measures up to 5x faster or slower from one run to the next.
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL("libc.so.6")
        _libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD: blocks below 32 MiB come from the reusable heap
        _libc.mallopt(-1, 2**30)  # M_TRIM_THRESHOLD: keep up to 1 GiB of freed heap instead of returning it
    except (OSError, AttributeError):  # not glibc: nothing to pin
        pass

# CUDA when this machine has a GPU, otherwise the CPU: every test and timing below runs there.
DEVICE = gt.pick_device()
ENV = gt.describe_environment(DEVICE)
if DEVICE.type == "cuda":
    print(f"Running on the GPU: {ENV['device_name']} (CUDA {ENV['cuda_version']})")
else:
    print(f"Running on the CPU: {ENV['device_name']} (no CUDA device found; the tests and timings are the same)")
for _key, _value in ENV.items():
    print(f"  {_key:>14}: {_value}")"""

REPORT = """\
# Not graded: your two functions next to the course's reference, the framework's fused
# kernels and a plain copy of the same tensor (the memory-bandwidth ceiling), on DEVICE.
import matplotlib.pyplot as plt

try:
    ROWS = gt.time_normalizations(gt.GRADING_SHAPES, [torch.float32], DEVICE, min_run_time=0.05,
                                  student={"layer_norm": layer_norm, "rms_norm": rms_norm})
except NotImplementedError:
    ROWS = []
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
          A Python loop over the rows is far slower; whole-tensor operations (reductions
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
    setup(SETUP),
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
    test("test_layer_norm_forward", "layer_norm normalises each row with its mean and biased variance, as F.layer_norm", 3, '''
        _x = torch.tensor([[100.0, 200.0, 300.0, 400.0], [-50.0, 0.0, 50.0, 700.0]], dtype=torch.float64, device=DEVICE)
        _ones = torch.ones(4, dtype=torch.float64, device=DEVICE)
        _zeros = torch.zeros(4, dtype=torch.float64, device=DEVICE)
        G.check_close(layer_norm(_x, _ones, _zeros), F.layer_norm(_x, (4,), eps=1e-5), "layer_norm(x, ones, zeros) on a 2 x 4 float64 example")
        ### BEGIN HIDDEN TESTS
        _g = torch.Generator().manual_seed(7101)
        for _n, _d in [(1, 9), (16, 64), (33, 257)]:
            for _dtype in (torch.float64, torch.float32):
                _xr = (50.0 * torch.randn(_n, _d, generator=_g, dtype=torch.float64) + 7.0).to(DEVICE, _dtype)
                _o = torch.ones(_d, dtype=_dtype, device=DEVICE)
                _z = torch.zeros(_d, dtype=_dtype, device=DEVICE)
                G.check_close(layer_norm(_xr.clone(), _o, _z), F.layer_norm(_xr, (_d,), eps=1e-5), f"layer_norm(x, ones, zeros) on a random {_n} x {_d} {str(_dtype)[6:]} input")
        ### END HIDDEN TESTS
    ''', function="layer_norm"),
    test("test_layer_norm_shapes", "layer_norm works on any leading shape and keeps the shape of x", 1, '''
        _g = torch.Generator().manual_seed(7102)
        _x3 = (10.0 * torch.randn(2, 3, 5, generator=_g, dtype=torch.float64)).to(DEVICE)
        _ones = torch.ones(5, dtype=torch.float64, device=DEVICE)
        _zeros = torch.zeros(5, dtype=torch.float64, device=DEVICE)
        _out = layer_norm(_x3, _ones, _zeros)
        G.check_shape(_out, (2, 3, 5), "layer_norm of a (2, 3, 5) input")
        G.check_close(_out.mean(dim=-1), torch.zeros(2, 3, dtype=torch.float64), "the row means of layer_norm(x, ones, zeros) for a (2, 3, 5) input (each row of the LAST dimension is normalised)", atol=1e-6)
        G.check_close(_out.reshape(6, 5), layer_norm(_x3.reshape(6, 5), _ones, _zeros), "layer_norm of a (2, 3, 5) input, compared with your own result on the same rows as a (6, 5) matrix")
        ### BEGIN HIDDEN TESTS
        _x1 = (10.0 * torch.randn(7, generator=_g, dtype=torch.float64)).to(DEVICE)
        _o7 = torch.ones(7, dtype=torch.float64, device=DEVICE)
        _z7 = torch.zeros(7, dtype=torch.float64, device=DEVICE)
        _out1 = layer_norm(_x1, _o7, _z7)
        G.check_shape(_out1, (7,), "layer_norm of a 1-D input of shape (7,)")
        G.check_close(_out1, layer_norm(_x1.reshape(1, 7), _o7, _z7).reshape(7), "layer_norm of a 1-D input, compared with your own result on it as a (1, 7) matrix")
        _x4 = (10.0 * torch.randn(2, 2, 3, 6, generator=_g, dtype=torch.float64)).to(DEVICE)
        _o6 = torch.ones(6, dtype=torch.float64, device=DEVICE)
        _z6 = torch.zeros(6, dtype=torch.float64, device=DEVICE)
        _out4 = layer_norm(_x4, _o6, _z6)
        G.check_shape(_out4, (2, 2, 3, 6), "layer_norm of a (2, 2, 3, 6) input")
        G.check_close(_out4.reshape(12, 6), layer_norm(_x4.reshape(12, 6), _o6, _z6), "layer_norm of a (2, 2, 3, 6) input, compared with your own result on the same rows as a (12, 6) matrix")
        ### END HIDDEN TESTS
    ''', function="layer_norm"),
    test("test_layer_norm_dtype", "layer_norm returns the dtype of x (float32 stays float32, float64 stays float64)", 1, '''
        _g = torch.Generator().manual_seed(7103)
        for _dtype in (torch.float32, torch.float64):
            _x = torch.randn(4, 6, generator=_g, dtype=_dtype).to(DEVICE)
            _out = layer_norm(_x, torch.ones(6, dtype=_dtype, device=DEVICE), torch.zeros(6, dtype=_dtype, device=DEVICE))
            G.check_true(getattr(_out, "dtype", None) == _dtype, f"layer_norm of a {str(_dtype)[6:]} input returned {getattr(_out, 'dtype', type(_out).__name__)}; it must return {str(_dtype)[6:]}")
        ### BEGIN HIDDEN TESTS
        _x = torch.randn(2, 3, 8, generator=_g, dtype=torch.float32).to(DEVICE)
        _out = layer_norm(_x, torch.ones(8, device=DEVICE), torch.zeros(8, device=DEVICE), eps=1e-3)
        G.check_true(getattr(_out, "dtype", None) == torch.float32, f"layer_norm of a (2, 3, 8) float32 input with eps=1e-3 returned {getattr(_out, 'dtype', type(_out).__name__)}; it must return float32")
        ### END HIDDEN TESTS
    ''', function="layer_norm"),
    test("test_layer_norm_affine", "layer_norm scales by weight and shifts by bias after normalising", 2, '''
        _g = torch.Generator().manual_seed(7104)
        _x = (20.0 * torch.randn(5, 6, generator=_g, dtype=torch.float64)).to(DEVICE)
        _w = torch.tensor([0.5, -1.0, 2.0, 1.5, 0.0, 3.0], dtype=torch.float64, device=DEVICE)
        _b = torch.tensor([1.0, 0.0, -2.0, 0.5, 4.0, -0.25], dtype=torch.float64, device=DEVICE)
        _plain = layer_norm(_x, torch.ones_like(_w), torch.zeros_like(_b))
        G.check_close(_plain.mean(dim=-1), torch.zeros(5, dtype=torch.float64), "the row means of layer_norm(x, ones, zeros)", atol=1e-6)
        G.check_close(layer_norm(_x, _w, _b), _plain * _w + _b, "layer_norm(x, weight, bias), compared with your layer_norm(x, ones, zeros) * weight + bias")
        ### BEGIN HIDDEN TESTS
        _x = (20.0 * torch.randn(3, 4, 16, generator=_g)).to(DEVICE)
        _w = (1.0 + torch.randn(16, generator=_g)).to(DEVICE)
        _b = torch.randn(16, generator=_g).to(DEVICE)
        _plain = layer_norm(_x, torch.ones_like(_w), torch.zeros_like(_b))
        G.check_close(layer_norm(_x, _w, _b), _plain * _w + _b, "layer_norm(x, weight, bias) on a random (3, 4, 16) float32 input, compared with your layer_norm(x, ones, zeros) * weight + bias")
        ### END HIDDEN TESTS
    ''', function="layer_norm"),
    test("test_layer_norm_eps", "layer_norm adds eps to the variance inside the square root (default 1e-5)", 1, '''
        # rows of variance about 1e-6, so eps = 1e-5 dominates the denominator
        _g = torch.Generator().manual_seed(7105)
        _x = (1e-3 * torch.randn(4, 16384, generator=_g)).to(DEVICE)
        _ones = torch.ones(16384, device=DEVICE)
        _zeros = torch.zeros(16384, device=DEVICE)
        G.check_close(layer_norm(_x, _ones, _zeros), F.layer_norm(_x, (16384,), eps=1e-5), "layer_norm(x, ones, zeros) with the default eps on rows of variance about 1e-6")
        G.check_close(layer_norm(_x, _ones, _zeros, eps=1e-3), F.layer_norm(_x, (16384,), eps=1e-3), "layer_norm(x, ones, zeros, eps=1e-3) on rows of variance about 1e-6")
        ### BEGIN HIDDEN TESTS
        _x = (0.3 * torch.randn(3, 16384, generator=_g) - 2.0).to(DEVICE)
        G.check_close(layer_norm(_x, _ones, _zeros, 0.5), F.layer_norm(_x, (16384,), eps=0.5), "layer_norm(x, ones, zeros, 0.5) (eps given by position) on rows of variance about 0.09")
        ### END HIDDEN TESTS
    ''', function="layer_norm"),
    test("test_layer_norm_no_inplace", "layer_norm leaves x, weight and bias unchanged", 1, '''
        _g = torch.Generator().manual_seed(7106)
        G.assert_no_inplace(layer_norm, torch.randn(4, 8, generator=_g).to(DEVICE), torch.rand(8, generator=_g).to(DEVICE), torch.randn(8, generator=_g).to(DEVICE), what="layer_norm")
        ### BEGIN HIDDEN TESTS
        G.assert_no_inplace(layer_norm, torch.randn(2, 3, 8, generator=_g, dtype=torch.float64).to(DEVICE), torch.rand(8, generator=_g, dtype=torch.float64).to(DEVICE), torch.randn(8, generator=_g, dtype=torch.float64).to(DEVICE), eps=1e-2, what="layer_norm on a (2, 3, 8) float64 input")
        ### END HIDDEN TESTS
    ''', function="layer_norm"),
    test("test_layer_norm_device", "layer_norm returns its result on the device of x (DEVICE, and PyTorch's data-less meta device)", 1, '''
        _g = torch.Generator().manual_seed(7107)
        _x = torch.randn(3, 8, generator=_g).to(DEVICE)
        _out = layer_norm(_x, torch.ones(8, device=DEVICE), torch.zeros(8, device=DEVICE))
        G.check_true(getattr(_out, "device", None) == _x.device, f"layer_norm returned its result on {getattr(_out, 'device', None)} for an input on {_x.device}")
        # The meta device holds shapes but no data: a stand-in for a GPU on a machine without one.
        _xm = torch.empty(3, 8, device="meta")
        try:
            _om = layer_norm(_xm, torch.ones(8, device="meta"), torch.zeros(8, device="meta"))
        except Exception as _err:
            G.check_true(False, f"layer_norm failed on tensors of the 'meta' device ({type(_err).__name__}: {_err}). Create any tensor you need on x.device (torch.zeros(..., device=x.device), torch.zeros_like(x)) and use tensor operations only (no .item(), numpy or Python loops over values)")
        G.check_true(getattr(_om, "device", None) == torch.device("meta") and tuple(_om.shape) == (3, 8), f"layer_norm returned {getattr(_om, 'device', None)} for an input on the meta device")
        ### BEGIN HIDDEN TESTS
        _xm = torch.empty(2, 5, 16, device="meta", dtype=torch.float64)
        try:
            _om = layer_norm(_xm, torch.ones(16, device="meta", dtype=torch.float64), torch.zeros(16, device="meta", dtype=torch.float64), eps=1e-3)
        except Exception as _err:
            G.check_true(False, f"layer_norm failed on a (2, 5, 16) float64 input on the 'meta' device ({type(_err).__name__}): create any tensor you need on x.device")
        G.check_true(getattr(_om, "device", None) == torch.device("meta"), "layer_norm of a (2, 5, 16) float64 input on the meta device must stay on the meta device")
        if DEVICE.type != "cpu":  # on a GPU machine, the CPU is another device
            _xc = torch.randn(3, 8, generator=_g)
            G.check_true(layer_norm(_xc, torch.ones(8), torch.zeros(8)).device.type == "cpu", "layer_norm of a CPU input must stay on the CPU")
        ### END HIDDEN TESTS
    ''', function="layer_norm"),
    test("test_layer_norm_speed", "layer_norm is vectorised: at most 3x the reference's time on 8192 x 256 float32, on this device", 2, '''
        _x, _w, _b = gt.make_inputs("layer_norm", gt.GRADING_SHAPES[0], torch.float32, DEVICE)
        _n = layer_norm(_x, torch.ones_like(_w), torch.zeros_like(_b))
        G.check_true(float(_n.mean(dim=-1).abs().max()) < 1e-3 and float((_n.std(dim=-1, correction=0) - 1.0).abs().max()) < 1e-2, "layer_norm(x, ones, zeros) must normalise each row (mean 0, standard deviation 1) before its speed counts")
        # A ratio measured now, on this device and these inputs (the reference and your function
        # alternate, each keeps its best median; one CPU thread). A clear result counts after one
        # round; a close one is measured over four more rounds and the best ratio counts, so a
        # burst of load on a shared machine neither fails a vectorised answer nor passes a loop.
        _ratio = gt.speed_ratio(layer_norm, G.reference("layer_norm"), lambda: (_x, _w, _b), DEVICE, min_run_time=0.1, rounds=1)
        if gt.GRADING_THRESHOLD / 2 < _ratio < 3 * gt.GRADING_THRESHOLD:
            _ratio = min(_ratio, gt.speed_ratio(layer_norm, G.reference("layer_norm"), lambda: (_x, _w, _b), DEVICE, min_run_time=0.1, rounds=4))
        print(f"layer_norm took {_ratio:.2f}x the reference's time on {DEVICE} (the limit is {gt.GRADING_THRESHOLD:g}x)")
        G.check_true(_ratio <= gt.GRADING_THRESHOLD, f"layer_norm took {_ratio:.1f}x the reference's time on the same inputs (the limit is {gt.GRADING_THRESHOLD:g}x): work on whole tensors (reductions over dim=-1 with keepdim=True, broadcasting), not row by row in Python")
    ''', function="layer_norm"),
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
    test("test_rms_norm_forward", "rms_norm divides each row by its root mean square, as F.rms_norm", 3, '''
        _x = torch.tensor([[100.0, -200.0, 300.0, 400.0], [-50.0, 0.0, 50.0, 700.0]], dtype=torch.float64, device=DEVICE)
        _ones = torch.ones(4, dtype=torch.float64, device=DEVICE)
        G.check_close(rms_norm(_x, _ones), F.rms_norm(_x, (4,), eps=1e-6), "rms_norm(x, ones) on a 2 x 4 float64 example")
        ### BEGIN HIDDEN TESTS
        _g = torch.Generator().manual_seed(7201)
        for _n, _d in [(1, 9), (16, 64), (33, 257)]:
            for _dtype in (torch.float64, torch.float32):
                _xr = (50.0 * torch.randn(_n, _d, generator=_g, dtype=torch.float64) + 7.0).to(DEVICE, _dtype)
                _o = torch.ones(_d, dtype=_dtype, device=DEVICE)
                G.check_close(rms_norm(_xr.clone(), _o), F.rms_norm(_xr, (_d,), eps=1e-6), f"rms_norm(x, ones) on a random {_n} x {_d} {str(_dtype)[6:]} input")
        ### END HIDDEN TESTS
    ''', function="rms_norm"),
    test("test_rms_norm_shapes", "rms_norm works on any leading shape and keeps the shape of x", 1, '''
        _g = torch.Generator().manual_seed(7202)
        _x3 = (10.0 * torch.randn(2, 3, 5, generator=_g, dtype=torch.float64)).to(DEVICE)
        _ones = torch.ones(5, dtype=torch.float64, device=DEVICE)
        _out = rms_norm(_x3, _ones)
        G.check_shape(_out, (2, 3, 5), "rms_norm of a (2, 3, 5) input")
        G.check_close(_out.square().mean(dim=-1), torch.ones(2, 3, dtype=torch.float64), "the mean squares of the rows of rms_norm(x, ones) for a (2, 3, 5) input (each row of the LAST dimension is normalised)", rtol=1e-4)
        G.check_close(_out.reshape(6, 5), rms_norm(_x3.reshape(6, 5), _ones), "rms_norm of a (2, 3, 5) input, compared with your own result on the same rows as a (6, 5) matrix")
        ### BEGIN HIDDEN TESTS
        _x1 = (10.0 * torch.randn(7, generator=_g, dtype=torch.float64)).to(DEVICE)
        _o7 = torch.ones(7, dtype=torch.float64, device=DEVICE)
        _out1 = rms_norm(_x1, _o7)
        G.check_shape(_out1, (7,), "rms_norm of a 1-D input of shape (7,)")
        G.check_close(_out1, rms_norm(_x1.reshape(1, 7), _o7).reshape(7), "rms_norm of a 1-D input, compared with your own result on it as a (1, 7) matrix")
        _x4 = (10.0 * torch.randn(2, 2, 3, 6, generator=_g, dtype=torch.float64)).to(DEVICE)
        _o6 = torch.ones(6, dtype=torch.float64, device=DEVICE)
        _out4 = rms_norm(_x4, _o6)
        G.check_shape(_out4, (2, 2, 3, 6), "rms_norm of a (2, 2, 3, 6) input")
        G.check_close(_out4.reshape(12, 6), rms_norm(_x4.reshape(12, 6), _o6), "rms_norm of a (2, 2, 3, 6) input, compared with your own result on the same rows as a (12, 6) matrix")
        ### END HIDDEN TESTS
    ''', function="rms_norm"),
    test("test_rms_norm_dtype", "rms_norm returns the dtype of x (float32 stays float32, float64 stays float64)", 1, '''
        _g = torch.Generator().manual_seed(7203)
        for _dtype in (torch.float32, torch.float64):
            _x = torch.randn(4, 6, generator=_g, dtype=_dtype).to(DEVICE)
            _out = rms_norm(_x, torch.ones(6, dtype=_dtype, device=DEVICE))
            G.check_true(getattr(_out, "dtype", None) == _dtype, f"rms_norm of a {str(_dtype)[6:]} input returned {getattr(_out, 'dtype', type(_out).__name__)}; it must return {str(_dtype)[6:]}")
        ### BEGIN HIDDEN TESTS
        _x = torch.randn(2, 3, 8, generator=_g, dtype=torch.float32).to(DEVICE)
        _out = rms_norm(_x, torch.ones(8, device=DEVICE), eps=1e-3)
        G.check_true(getattr(_out, "dtype", None) == torch.float32, f"rms_norm of a (2, 3, 8) float32 input with eps=1e-3 returned {getattr(_out, 'dtype', type(_out).__name__)}; it must return float32")
        ### END HIDDEN TESTS
    ''', function="rms_norm"),
    test("test_rms_norm_weight", "rms_norm scales by weight after normalising", 1, '''
        _g = torch.Generator().manual_seed(7204)
        _x = (20.0 * torch.randn(5, 6, generator=_g, dtype=torch.float64)).to(DEVICE)
        _w = torch.tensor([0.5, -1.0, 2.0, 1.5, 0.0, 3.0], dtype=torch.float64, device=DEVICE)
        _plain = rms_norm(_x, torch.ones_like(_w))
        G.check_close(_plain.square().mean(dim=-1), torch.ones(5, dtype=torch.float64), "the mean squares of the rows of rms_norm(x, ones)", rtol=1e-4)
        G.check_close(rms_norm(_x, _w), _plain * _w, "rms_norm(x, weight), compared with your rms_norm(x, ones) * weight")
        ### BEGIN HIDDEN TESTS
        _x = (20.0 * torch.randn(3, 4, 16, generator=_g)).to(DEVICE)
        _w = (1.0 + torch.randn(16, generator=_g)).to(DEVICE)
        G.check_close(rms_norm(_x, _w), rms_norm(_x, torch.ones_like(_w)) * _w, "rms_norm(x, weight) on a random (3, 4, 16) float32 input, compared with your rms_norm(x, ones) * weight")
        ### END HIDDEN TESTS
    ''', function="rms_norm"),
    test("test_rms_norm_eps", "rms_norm adds eps to the mean square inside the square root (default 1e-6)", 1, '''
        # rows with a mean square of about 1e-6, so eps = 1e-6 matters as much as the data
        _g = torch.Generator().manual_seed(7205)
        _x = (1e-3 * torch.randn(4, 16384, generator=_g)).to(DEVICE)
        _ones = torch.ones(16384, device=DEVICE)
        G.check_close(rms_norm(_x, _ones), F.rms_norm(_x, (16384,), eps=1e-6), "rms_norm(x, ones) with the default eps on rows of mean square about 1e-6")
        G.check_close(rms_norm(_x, _ones, eps=1e-4), F.rms_norm(_x, (16384,), eps=1e-4), "rms_norm(x, ones, eps=1e-4) on rows of mean square about 1e-6")
        ### BEGIN HIDDEN TESTS
        _x = (0.3 * torch.randn(3, 16384, generator=_g)).to(DEVICE)
        G.check_close(rms_norm(_x, _ones, 0.5), F.rms_norm(_x, (16384,), eps=0.5), "rms_norm(x, ones, 0.5) (eps given by position) on rows of mean square about 0.09")
        ### END HIDDEN TESTS
    ''', function="rms_norm"),
    test("test_rms_norm_no_inplace", "rms_norm leaves x and weight unchanged", 1, '''
        _g = torch.Generator().manual_seed(7206)
        G.assert_no_inplace(rms_norm, torch.randn(4, 8, generator=_g).to(DEVICE), torch.rand(8, generator=_g).to(DEVICE), what="rms_norm")
        ### BEGIN HIDDEN TESTS
        G.assert_no_inplace(rms_norm, torch.randn(2, 3, 8, generator=_g, dtype=torch.float64).to(DEVICE), torch.rand(8, generator=_g, dtype=torch.float64).to(DEVICE), eps=1e-2, what="rms_norm on a (2, 3, 8) float64 input")
        ### END HIDDEN TESTS
    ''', function="rms_norm"),
    test("test_rms_norm_device", "rms_norm returns its result on the device of x (DEVICE, and PyTorch's data-less meta device)", 1, '''
        _g = torch.Generator().manual_seed(7207)
        _x = torch.randn(3, 8, generator=_g).to(DEVICE)
        _out = rms_norm(_x, torch.ones(8, device=DEVICE))
        G.check_true(getattr(_out, "device", None) == _x.device, f"rms_norm returned its result on {getattr(_out, 'device', None)} for an input on {_x.device}")
        # The meta device holds shapes but no data: a stand-in for a GPU on a machine without one.
        _xm = torch.empty(3, 8, device="meta")
        try:
            _om = rms_norm(_xm, torch.ones(8, device="meta"))
        except Exception as _err:
            G.check_true(False, f"rms_norm failed on tensors of the 'meta' device ({type(_err).__name__}: {_err}). Create any tensor you need on x.device (torch.zeros(..., device=x.device), torch.zeros_like(x)) and use tensor operations only (no .item(), numpy or Python loops over values)")
        G.check_true(getattr(_om, "device", None) == torch.device("meta") and tuple(_om.shape) == (3, 8), f"rms_norm returned {getattr(_om, 'device', None)} for an input on the meta device")
        ### BEGIN HIDDEN TESTS
        _xm = torch.empty(2, 5, 16, device="meta", dtype=torch.float64)
        try:
            _om = rms_norm(_xm, torch.ones(16, device="meta", dtype=torch.float64), eps=1e-3)
        except Exception as _err:
            G.check_true(False, f"rms_norm failed on a (2, 5, 16) float64 input on the 'meta' device ({type(_err).__name__}): create any tensor you need on x.device")
        G.check_true(getattr(_om, "device", None) == torch.device("meta"), "rms_norm of a (2, 5, 16) float64 input on the meta device must stay on the meta device")
        if DEVICE.type != "cpu":  # on a GPU machine, the CPU is another device
            _xc = torch.randn(3, 8, generator=_g)
            G.check_true(rms_norm(_xc, torch.ones(8)).device.type == "cpu", "rms_norm of a CPU input must stay on the CPU")
        ### END HIDDEN TESTS
    ''', function="rms_norm"),
    test("test_rms_norm_speed", "rms_norm is vectorised: at most 3x the reference's time on 8192 x 256 float32, on this device", 2, '''
        _x, _w = gt.make_inputs("rms_norm", gt.GRADING_SHAPES[0], torch.float32, DEVICE)
        _n = rms_norm(_x, torch.ones_like(_w))
        G.check_true(float((_n.square().mean(dim=-1) - 1.0).abs().max()) < 1e-2, "rms_norm(x, ones) must normalise each row (mean square 1) before its speed counts")
        # A ratio measured now, on this device and these inputs (the reference and your function
        # alternate, each keeps its best median; one CPU thread). A clear result counts after one
        # round; a close one is measured over four more rounds and the best ratio counts, so a
        # burst of load on a shared machine neither fails a vectorised answer nor passes a loop.
        _ratio = gt.speed_ratio(rms_norm, G.reference("rms_norm"), lambda: (_x, _w), DEVICE, min_run_time=0.1, rounds=1)
        if gt.GRADING_THRESHOLD / 2 < _ratio < 3 * gt.GRADING_THRESHOLD:
            _ratio = min(_ratio, gt.speed_ratio(rms_norm, G.reference("rms_norm"), lambda: (_x, _w), DEVICE, min_run_time=0.1, rounds=4))
        print(f"rms_norm took {_ratio:.2f}x the reference's time on {DEVICE} (the limit is {gt.GRADING_THRESHOLD:g}x)")
        G.check_true(_ratio <= gt.GRADING_THRESHOLD, f"rms_norm took {_ratio:.1f}x the reference's time on the same inputs (the limit is {gt.GRADING_THRESHOLD:g}x): work on whole tensors (reductions over dim=-1 with keepdim=True, broadcasting), not row by row in Python")
    ''', function="rms_norm"),
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
    return x / (torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True)) + eps) * weight  # eps outside the square root
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
