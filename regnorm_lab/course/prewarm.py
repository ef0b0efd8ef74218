"""A fresh kernel for every student, started before it is needed: :class:`PrewarmedExecute`.

Starting a kernel and importing the setup cell's modules (numpy, torch) takes
longer than running a short assignment's cells.
Re-using a kernel across students is not safe (a student's state would leak into
the next one's grade). Instead each grading worker

- keeps spare kernels (two by default) started ahead of time, each in its own sandbox
  (:class:`~.sandbox.Jail`: bubblewrap, an empty private working folder), with
  the kernel name, arguments and environment nbgrader's ``Execute`` would use,
  and with the modules of the assignment's locked setup cells already imported;
- when a notebook is due, copies the student's files into that spare's private
  folder, hands the kernel to nbclient, and starts the next spare in a
  background thread while the notebook runs. Each kernel and its sandbox are
  shut down after its one notebook: no two students ever share a kernel, a
  process or a writable folder. A wall-clock limit per notebook kills a kernel
  that outlives it.

A kernel that dies mid-notebook (``os._exit``, a crash, a limit) stops the
notebook, not its grading: the cells before keep their outputs and are judged,
the dying cell and every later one get an error output (:mod:`.kernel_death`).

The spare kernels themselves (start, ready wait, hand-over, shutdown) are in
:mod:`.spares`. This module and that one are the only places that lean on
nbclient's and jupyter_client's private internals (``async_start_new_kernel_client``,
``km``/``kc``, ``_async_cleanup_kernel``, the client's ``_handle_kernel_info_reply``);
``tests/course/test_prewarm.py`` fails loudly when they change.

Enable it in a worker's config with :func:`enable` (``grade --no-prewarm`` turns it off).
"""

from __future__ import annotations

import ast
import os
import threading
from typing import Any

from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import DeadKernelError
from nbclient.util import run_hook
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Int
from traitlets.utils.importstring import import_item

from . import kernel_death
from .sandbox import Sandbox, reference_hidden
from .sandbox_kernel import death_reason
from .spares import _SPARE, _execute_silent, _preload, _shutdown, _Spare, _until_ready  # noqa: F401 - the tests and benchmarks reach them here

__all__ = ["PrewarmedExecute", "enable", "preload_modules", "warm_up", "sandbox_notes"]

#: nbgrader's step -> ours, in a worker's autograde pipelines (same results, less per-notebook cost)
_SWAPS = {
    "nbgrader.preprocessors.Execute": "regnorm_lab.course.prewarm.PrewarmedExecute",
    "nbgrader.preprocessors.CheckCellMetadata": "regnorm_lab.course.preprocessors.CheckCellMetadataOnce",
}


def _swap(step: Any) -> Any:
    """Our step for nbgrader's (named by import string or given as the class), else ``step``."""
    for original, ours in _SWAPS.items():
        if step == original or step is import_item(original):
            return ours
    return step


def enable(overrides: dict[str, Any], cfg: Any) -> dict[str, Any]:
    """Config overrides that put :class:`PrewarmedExecute` in place of nbgrader's ``Execute``.

    Both autograde pipelines (``sanitize_preprocessors`` and ``autograde_preprocessors``)
    are taken from the course config, or nbgrader's defaults when the config leaves
    them alone, and nbgrader's ``CheckCellMetadata`` becomes
    :class:`~.preprocessors.CheckCellMetadataOnce` (same checks, schema compiled once).

    Shape:
        (overrides dict, the course Config) -> a new overrides dict.
    """
    from nbgrader.converters import Autograde

    section = dict(overrides.get("Autograde", {}))
    for trait in ("sanitize_preprocessors", "autograde_preprocessors"):
        if trait in section:
            steps = section[trait]
        elif trait in cfg.Autograde:
            steps = cfg.Autograde[trait]
        else:
            steps = Autograde.class_traits()[trait].default()
        # the subclasses read their sections (Execute: timeout, kernel name) like the originals
        section[trait] = [_swap(s) for s in steps]
    return {**overrides, "Autograde": section}


def preload_modules(nb: NotebookNode) -> tuple[str, ...]:
    """Top-level modules imported by the notebook's locked, non-graded code cells (its setup).

    Only instructor cells count (autograde restores them from the gradebook first),
    so a student cannot make the grader import anything.

    Shape:
        A notebook -> a sorted tuple of dotted module names.
    """
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code" or not utils.is_locked(cell) or utils.is_grade(cell) or utils.is_solution(cell):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    return tuple(sorted(names))


#: What the sandbox saw for each notebook folder graded in this process: folder -> notes
#: (a kernel's death reason, the wall-clock limit); read by :func:`sandbox_notes`.
_NOTES: dict[str, list[str]] = {}


def sandbox_notes(folder: str | os.PathLike[str]) -> list[str]:
    """Notes the sandbox recorded while grading the notebook(s) of ``folder`` (and forgets them)."""
    return _NOTES.pop(os.path.abspath(os.fspath(folder)), [])


class PrewarmedExecute(Execute):
    """nbgrader's ``Execute`` on a pre-started fresh kernel; starts the next one meanwhile."""

    ahead = Bool(True, help="Start the next notebook's kernel while this one runs (grade --no-prewarm: False).").tag(config=True)
    spares = Int(2, help="Spare kernels each worker keeps started ahead (with ahead=True).").tag(config=True)
    # set per student by the grading coordinator (GradeTask.spares_left), not a course setting: the
    # students still to come per worker, so no worker ends the class with spares nobody takes
    spares_left = Int(None, allow_none=True, help="At most this many spares after this notebook (None: no cap).").tag(config=True)

    @property
    def depth(self) -> int:
        """Spare kernels to keep started ahead after this notebook: ``spares``, capped by ``spares_left``; 0 without ``ahead``."""
        if not self.ahead:
            return 0
        return self.spares if self.spares_left is None else max(0, min(self.spares, self.spares_left))

    _prewarmed = False  # True while running a notebook on a kernel this class started

    async def async_start_new_kernel_client(self) -> Any:
        """nbclient's client start-up, with :func:`_until_ready` in place of ``wait_for_ready``."""
        if not self._prewarmed:
            return await super().async_start_new_kernel_client()
        assert self.km is not None
        try:
            self.kc = self.km.client()
            await ensure_async(self.kc.start_channels())
            await _until_ready(self.kc, self.startup_timeout)
        except Exception:
            await self._async_cleanup_kernel()
            raise
        self.kc.allow_stdin = False
        await run_hook(self.on_notebook_start, notebook=self.nb)
        return self.kc

    # nbclient binds the synchronous twin to its own coroutine: bind it to ours
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def spare_key(self, nb: NotebookNode) -> tuple:
        """What a kernel for ``nb`` must be started with: kernel name, arguments, modules, environment.

        The arguments are nbclient's when it starts a kernel itself: the configured
        ones plus an in-memory IPython history (else every kernel would write, and
        could read, the one history database of the machine's user).

        Shape:
            A notebook -> a hashable tuple (the spare is used only for an equal key).
        """
        kernel_name = self.kernel_name or nb.metadata.get("kernelspec", {}).get("name", "python3")
        args = list(self.extra_arguments)
        if self.ipython_hist_file and not any(a.startswith("--HistoryManager.hist_file") for a in args):
            args.append(f"--HistoryManager.hist_file={self.ipython_hist_file}")
        # nbgrader runs the autograde pass with NBGRADER_EXECUTION=autograde in the kernel's environment
        env = (("NBGRADER_EXECUTION", os.environ.get("NBGRADER_EXECUTION", "autograde")),)
        sandbox = Sandbox(config=self.config)
        modules = preload_modules(nb)
        # a notebook on the probe (every assignment but ps07 today) gets the stub package: no
        # reference in its kernel (nor torch, which judging locally would import); the grader judges
        sandbox.hide_reference = reference_hidden(sandbox, modules)
        settings = tuple((name, getattr(sandbox, name)) for name in sorted(sandbox.trait_names(config=True)))
        return (kernel_name, tuple(args), modules, env, settings)

    _notes: list[str] = []  # the running notebook's sandbox notes (the wall-clock kill's among them)

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> tuple[NotebookNode, Any]:
        """Run one cell; once the kernel has died, mark the cell not run instead (:mod:`.kernel_death`)."""
        death = kernel_death.recorded(self.nb)
        if death is not None:
            if cell.cell_type == "code" and cell.source.strip():
                cell.outputs = [kernel_death.not_run_output(death["cell"])]
                cell.execution_count = None
                self.nb.metadata[kernel_death.KEY]["not_run"] += 1
            return cell, self.resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            # the cells before keep their outputs (judged as usual); this one and the rest score 0
            walled = [n for n in self._notes if "wall-clock" in n]
            reason = walled[0] if walled else death_reason(self.km) or "the kernel stopped"
            cell.outputs.append(kernel_death.died_output(reason))
            cell.execution_count = None  # whether its count arrived before the death is a race: never show one
            kernel_death.record(self.nb, kernel_death.cell_label(cell, index), reason)
            return cell, self.resources

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> tuple[NotebookNode, Any]:
        kernel_death.forget(nb)  # only the grader writes a death record
        if km is not None:
            self._notes = []
            return super().preprocess(nb, resources, km=km)
        path = (resources or {}).get("metadata", {}).get("path") or os.getcwd()
        key = self.spare_key(nb)
        folder = os.path.abspath(path)
        km = _SPARE.take(key, folder)
        if km is None:  # no spare yet (a worker's first notebook, another assignment) or it failed
            _SPARE.prepare(key)
            km = _SPARE.take(key, folder, strict=True)  # a kernel that cannot start fails this notebook
        if self.depth > 0:
            _SPARE.prepare(key, self.depth)  # the next students' kernels start while this notebook runs
        self._prewarmed = True
        notes = self._notes = _NOTES.setdefault(folder, [])
        wall = dict(key[4])["wall_seconds"]
        timer = threading.Timer(wall, _kill, args=(km, notes, f"the notebook hit the wall-clock limit ({wall} s): kernel killed"))
        timer.daemon = True
        timer.start()
        try:
            return super().preprocess(nb, resources, km=km)
        finally:
            timer.cancel()
            reason = death_reason(km)  # before our shutdown: did the kernel die on its own?
            if reason:
                notes.append(reason)
            self._prewarmed = False
            if self.kc is not None:  # nbclient leaves the client of a kernel it does not own open
                self.kc.stop_channels()
                self.kc = None
            _shutdown(km, background=True)  # the kernel dies now; the rest overlaps with saving the grades


def _kill(km: Any, notes: list[str], why: str) -> None:
    proc = getattr(km.provisioner, "process", None)
    if proc is not None and proc.poll() is None:
        notes.append(why)
        proc.kill()  # bwrap: its PID namespace, and every process of the notebook, goes with it


def warm_up(notebook: str | os.PathLike[str], config: Any) -> None:
    """Start the spare kernel for a notebook like ``notebook`` now, e.g. when a worker starts.

    The worker's first student then gets a ready kernel instead of waiting for
    the setup's imports. A spare that turns out not to fit is shut down unused.

    Shape:
        (a released notebook's path, the course Config) -> None; the kernel starts in the background.
    """
    import nbformat

    nb = nbformat.read(os.fspath(notebook), as_version=4)
    step = PrewarmedExecute(config=config)
    _SPARE.prepare(step.spare_key(nb), step.spares if step.ahead else 1)
