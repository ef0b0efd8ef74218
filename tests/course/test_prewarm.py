"""The grading workers' speed-ups change nothing a grade depends on.

- :class:`~regnorm_lab.course.prewarm.PrewarmedExecute` gives a notebook the outputs
  and execution counts nbgrader's own ``Execute`` gives it, whether its kernel was
  started on demand or taken from the spare; the kernel runs in a private copy of
  the notebook's folder (its sandbox), never in the folder itself.
- nbclient's private internals the module leans on still exist (a loud failure when
  nbclient changes them).
- :class:`~regnorm_lab.course.preprocessors.CheckCellMetadataOnce` accepts and
  rejects exactly what nbgrader's ``CheckCellMetadata`` does, with the same message.
- :func:`~regnorm_lab.course.prewarm.enable` swaps both steps in both autograde pipelines.
"""

from __future__ import annotations

import copy
import os
import pathlib

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.converters import Autograde
from nbgrader.preprocessors import CheckCellMetadata, Execute
from traitlets.config import Config

from regnorm_lab.course import prewarm, spares
from regnorm_lab.course.preprocessors import CheckCellMetadataOnce

# ---------------------------------------------------------------- PrewarmedExecute

_CELLS = [
    "import os, sys\nprint(os.getcwd())\nprint(sys.path)",
    "x = 21\nx * 2",
    "print('to stderr', file=sys.stderr)",
    "1 / 0",
    "print(In[-1] if 'In' in dir() else None, len(Out))",  # history: what ran before is only the notebook
    "print(get_ipython().history_manager.hist_file)",  # in memory, as nbclient starts kernels: no shared database
]


def _notebook() -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_code_cell(src) for src in _CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _run(step: Execute, folder: pathlib.Path, skip_first: bool = False) -> list[tuple[int | None, list[dict]]]:
    nb, _ = step.preprocess(_notebook(), {"metadata": {"path": str(folder)}})
    if skip_first:  # the folder and sys.path the kernel printed differ by design (its sandbox)
        nb.cells = nb.cells[1:]
    # outputs without their metadata (timings); execution counts as they are
    return [(c.execution_count, [{k: v for k, v in o.items() if k != "metadata"} for o in c.outputs]) for c in nb.cells]


@pytest.mark.slow
def test_prewarmed_kernels_run_a_notebook_as_nbgraders_execute_does(tmp_path: pathlib.Path) -> None:
    folders = [tmp_path / f"student{i}" for i in range(3)]
    for i, f in enumerate(folders):
        f.mkdir()
        (f / "data.txt").write_text(f"student {i}")
    reference = [_run(Execute(), f, skip_first=True) for f in folders]

    step = prewarm.PrewarmedExecute()
    try:
        # first notebook: kernel started on demand; the next ones: the spare, the student's files copied in
        ours = [_run(step, f, skip_first=True) for f in folders]
        assert prewarm._SPARE.thread is not None  # a spare is waiting for the next notebook
        nb = new_notebook(cells=[new_code_cell("import os\nprint(os.getcwd(), open('data.txt').read())")])
        out, _ = step.preprocess(nb, {"metadata": {"path": str(folders[1])}})
    finally:
        prewarm._SPARE.close()
    assert ours == reference
    cwd, text = out.cells[0].outputs[0]["text"].split(" ", 1)
    assert text.strip() == "student 1" and cwd != str(folders[1])  # a private copy of the student's folder


def test_nbclient_internals_prewarm_relies_on_still_exist() -> None:
    """If this fails, nbclient or jupyter_client changed what :mod:`prewarm` overrides or calls."""
    import inspect

    from jupyter_client.client import KernelClient
    from nbclient import NotebookClient

    client = NotebookClient(new_notebook())
    for name in ("async_start_new_kernel_client", "start_new_kernel_client", "_async_cleanup_kernel", "on_notebook_start", "km", "kc"):
        assert hasattr(client, name), f"nbclient.NotebookClient.{name} is gone"
    assert inspect.iscoroutinefunction(NotebookClient.async_start_new_kernel_client)
    assert hasattr(KernelClient, "_handle_kernel_info_reply"), "jupyter_client's KernelClient._handle_kernel_info_reply is gone"
    src = inspect.getsource(NotebookClient.async_setup_kernel) + inspect.getsource(NotebookClient.setup_kernel)
    assert "start_new_kernel_client" in src  # nbclient still connects through the method we override


@pytest.mark.slow
def test_a_spare_prepared_for_other_settings_is_not_used(tmp_path: pathlib.Path) -> None:
    step = prewarm.PrewarmedExecute()
    try:
        _run(step, tmp_path)
        spare = prewarm._SPARE.thread
        step.extra_arguments = ["--HistoryManager.enabled=False"]  # another kernel configuration
        assert prewarm._SPARE.take(("python3", ("--other",), (), (), ()), str(tmp_path)) is None
        assert spare is not None and not spare.is_alive()  # the unusable spare was shut down
        assert _run(step, tmp_path)[1] == (2, [{"output_type": "execute_result", "data": {"text/plain": "42"}, "execution_count": 2}])
    finally:
        prewarm._SPARE.close()


@pytest.mark.slow
def test_grading_kernels_listen_on_private_unix_sockets(tmp_path: pathlib.Path) -> None:
    # no TCP ports: nothing for two workers' kernels to race for, nothing another user can reach
    nb = new_notebook(cells=[new_code_cell(
        "import os\nfrom ipykernel.kernelapp import IPKernelApp\napp = IPKernelApp.instance()\n"
        "print(app.transport, oct(os.stat(os.path.dirname(app.ip)).st_mode & 0o777))"
    )])
    try:
        out, _ = prewarm.PrewarmedExecute().preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    finally:
        prewarm._SPARE.close()
    assert out.cells[0].outputs[0]["text"].split() == ["ipc", "0o700"]


@pytest.mark.slow
def test_a_dead_kernel_fails_the_ready_wait_at_once() -> None:
    import asyncio
    import time

    km = prewarm._Spare.start(("python3", (), (), (), ()))
    try:
        ready = km.blocking_client()
        ready.start_channels()
        ready.wait_for_ready(timeout=120)  # a running kernel, then it crashes
        ready.stop_channels()
        km.provisioner.process.kill()  # the kernel's sandbox (bwrap), as a crash would end it
        km.provisioner.process.wait(timeout=10)
        kc = km.client()
        kc.start_channels()
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match="died"):
            asyncio.run(prewarm._until_ready(kc, timeout=60))
        assert time.monotonic() - t0 < 10  # not the 60 s deadline
        kc.stop_channels()
    finally:
        prewarm._shutdown(km)


@pytest.mark.slow
def test_a_spare_that_waits_for_a_dead_kernel_fails_at_once() -> None:
    """The spare thread's own ready wait (blocking client, no event loop): the path past a
    silent second (no reply yet: ask whether the kernel lives) once hung for good."""
    import time

    km = prewarm._Spare.start(("python3", (), (), (), ()))
    try:
        km.provisioner.process.kill()  # dead before it ever answers
        km.provisioner.process.wait(timeout=10)
        kc = km.blocking_client()
        kc.start_channels()
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match="died"):
            spares._spare_ready(kc, timeout=60)
        assert time.monotonic() - t0 < 30  # not the 60 s deadline, and no hang (heartbeat: a few seconds)
        kc.stop_channels()
    finally:
        prewarm._shutdown(km)


def test_a_kernel_that_cannot_start_fails_the_notebook_with_its_error(tmp_path: pathlib.Path) -> None:
    from jupyter_client.kernelspec import NoSuchKernel

    nb = _notebook()
    nb.metadata["kernelspec"]["name"] = "no-such-kernel"
    with pytest.raises(NoSuchKernel):
        prewarm.PrewarmedExecute().preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    prewarm._SPARE.close()


def _kernels_of(pid: int) -> list[int]:
    """Pids of the sandboxes (bwrap processes) whose parent is ``pid``."""
    out = []
    for p in pathlib.Path("/proc").glob("[0-9]*"):
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        if name == "bwrap" and int(rest.split()[1]) == pid:
            out.append(int(p.name))
    return out


def _grade_in_worker(folder: str) -> list[int]:
    """In a pool worker: run a notebook prewarmed; return the pids of its kernels' sandboxes."""
    import time

    nb = new_notebook(cells=[new_code_cell("1 + 1")])
    prewarm.PrewarmedExecute().preprocess(nb, {"metadata": {"path": folder}})
    assert prewarm._SPARE.thread is not None  # a spare kernel is waiting when the worker ends
    deadline = time.monotonic() + 60
    while not _kernels_of(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _kernels_of(os.getpid())


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


@pytest.mark.slow
def test_a_worker_leaves_no_kernel_behind(tmp_path: pathlib.Path) -> None:
    import concurrent.futures as cf
    import multiprocessing
    import signal
    import time

    # a worker that exits normally, with a spare kernel waiting: bwrap --die-with-parent ends it
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pids = pool.submit(_grade_in_worker, str(tmp_path)).result()
    assert pids
    deadline = time.monotonic() + 60  # a wait for the clean-up, not a speed requirement
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(_gone(p) for p in pids)

    # a worker killed by a student's notebook: its kernels die with it
    pool = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    pids = pool.submit(_grade_in_worker, str(tmp_path)).result()
    worker = next(iter(pool._processes.values()))
    os.kill(worker.pid, signal.SIGKILL)
    pool.shutdown(wait=True)
    deadline = time.monotonic() + 60
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pids and all(_gone(p) for p in pids)


# ---------------------------------------------------------------- CheckCellMetadataOnce


def _meta(**changes: object) -> dict:
    meta = {"grade": True, "solution": False, "locked": True, "points": 1.0, "grade_id": "test_a", "schema_version": 3}
    meta.update(changes)
    return {k: v for k, v in meta.items() if v is not _DROP}


_DROP = object()

_CASES = {
    "valid grade cell": (new_code_cell, _meta()),
    "valid solution cell": (new_code_cell, _meta(grade=False, solution=True, locked=False, points=_DROP)),
    "points missing": (new_code_cell, _meta(points=_DROP)),
    "points of the wrong type": (new_code_cell, _meta(points="two")),
    "negative points": (new_code_cell, _meta(points=-1)),
    "grade id missing": (new_code_cell, _meta(grade_id=_DROP)),
    "empty grade id": (new_code_cell, _meta(grade_id="")),
    "schema too old": (new_code_cell, _meta(schema_version=2)),
    "schema too new": (new_code_cell, _meta(schema_version=4)),
    "required key missing": (new_code_cell, _meta(locked=_DROP)),
    "markdown grade cell that is no solution": (new_markdown_cell, _meta()),
    "valid markdown answer": (new_markdown_cell, _meta(solution=True, locked=False)),
}


def _verdict(step_class: type, make_cell: object, meta: dict) -> tuple[str, str]:
    cell = make_cell("x = 1")  # type: ignore[operator]
    cell.metadata["nbgrader"] = copy.deepcopy(meta)
    nb = new_notebook(cells=[cell])
    try:
        step_class().preprocess(nb, {})
    except Exception as err:  # noqa: BLE001 - the verdict is the exception
        return type(err).__name__, str(err)
    return "ok", ""


@pytest.mark.parametrize("case", sorted(_CASES))
def test_metadata_check_has_nbgraders_verdicts(case: str) -> None:
    make_cell, meta = _CASES[case]
    ours = _verdict(CheckCellMetadataOnce, make_cell, meta)
    assert ours == _verdict(CheckCellMetadata, make_cell, meta)
    assert (ours[0] == "ok") == case.startswith("valid")  # the cases mean what they say


def test_metadata_check_leaves_jsonschema_as_it_was() -> None:
    import nbgrader.nbgraderformat.common as common

    before = common.jsonschema
    _verdict(CheckCellMetadataOnce, new_code_cell, _meta(points=_DROP))
    assert common.jsonschema is before


# ---------------------------------------------------------------- enable


@pytest.mark.parametrize("configured", [False, True])
def test_enable_swaps_both_steps_in_both_pipelines(configured: bool) -> None:
    cfg = Config()
    if configured:
        cfg.Autograde.autograde_preprocessors = ["nbgrader.preprocessors.Execute", "my.Step", "nbgrader.preprocessors.CheckCellMetadata"]
    out = prewarm.enable({"Autograde": {"other": 1}, "Execute": {"timeout": 5}}, cfg)
    assert out["Execute"] == {"timeout": 5} and out["Autograde"]["other"] == 1

    defaults = {t: Autograde.class_traits()[t].default() for t in ("sanitize_preprocessors", "autograde_preprocessors")}
    expected_auto = (["regnorm_lab.course.prewarm.PrewarmedExecute", "my.Step", "regnorm_lab.course.preprocessors.CheckCellMetadataOnce"]
                     if configured else None)
    for trait, steps in out["Autograde"].items():
        if trait == "other":
            continue
        if trait == "autograde_preprocessors" and expected_auto is not None:
            assert steps == expected_auto
            continue
        original = defaults[trait]
        assert len(steps) == len(original)
        for new, old in zip(steps, original):
            if old is Execute:
                assert new == "regnorm_lab.course.prewarm.PrewarmedExecute"
            elif old is CheckCellMetadata:
                assert new == "regnorm_lab.course.preprocessors.CheckCellMetadataOnce"
            else:
                assert new is old
    assert os.environ.get("NBGRADER_EXECUTION") is None  # enable() changes config, not the process
