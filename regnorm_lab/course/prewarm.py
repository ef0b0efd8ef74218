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

This module is the one place that leans on nbclient's private internals
(``async_start_new_kernel_client``, ``km``/``kc``, ``_async_cleanup_kernel``,
the client's ``_handle_kernel_info_reply``); ``tests/course/test_prewarm.py``
fails loudly when they change.

Enable it in a worker's config with :func:`enable` (``grade --no-prewarm`` turns it off).
"""

from __future__ import annotations

import ast
import asyncio
import atexit
import collections
import os
import queue
import threading
import time
from queue import Empty
from typing import Any

from jupyter_client import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import DeadKernelError
from nbclient.util import run_hook
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Int
from traitlets.utils.importstring import import_item

from .sandbox import Jail, Sandbox, reference_hidden
from . import kernel_death
from .sandbox_kernel import death_reason, jailed_kernel_manager

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


def _execute_silent(kc: Any, code: str, timeout: float = 120.0) -> None:
    """Run ``code`` on a connected, ready client without output, history or an execution count."""
    reply = kc.execute_interactive(code, silent=True, store_history=False, timeout=timeout)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"prewarm code failed: {reply['content'].get('ename')}: {reply['content'].get('evalue')}")


class _Spare:
    """One worker's spare kernel, started and connected by a background thread.

    The thread starts the kernel, connects a client and waits until the kernel
    answers (:func:`_spare_ready`), imports the setup's modules, then waits for
    the folder of the notebook it is taken for, moves the kernel there over the
    same client and hands it over.
    """

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.thread: threading.Thread | None = None
        self.folders: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.outcome: dict[str, Any] = {}
        self.lock = threading.Lock()

    @staticmethod
    def start(key: tuple) -> AsyncKernelManager:
        """Start a kernel for ``key`` in a new jail (sandboxed unless the settings say not)."""
        kernel_name, extra, _modules, _env, sandbox = key
        jail = Jail(Sandbox(**dict(sandbox)))
        try:
            km = jailed_kernel_manager(jail, kernel_name)
            km.regnorm_jail = jail
            asyncio.run(km.start_kernel(extra_arguments=list(extra)))
        except BaseException:
            jail.close()
            raise
        return km

    @classmethod
    def _target(cls, key: tuple, folders: "queue.SimpleQueue[str | None]", outcome: dict[str, Any]) -> None:
        km = kc = None
        try:
            km = cls.start(key)
            kc = km.blocking_client()
            kc.start_channels()
            _spare_ready(kc)
            if key[2]:
                # the setup cells' imports (numpy, torch...), done while the previous notebook runs;
                # a module the sandbox hides is left for the notebook to fail on
                _execute_silent(kc, _preload(key[2]))
            folder = folders.get()  # blocks until the spare is taken (or closed: None)
            if folder is None:
                raise _Unused()
            km.regnorm_jail.fill(folder)  # the kernel's working folder is the private copy
            kc.stop_channels()
            kc = None
            done = km.regnorm_done = threading.Event()
            outcome["km"] = km
            outcome["ready"].set()
            # bwrap --die-with-parent kills the kernel when the THREAD that started it ends
            # (the parent-death signal follows the thread): this thread lives until the kernel's
            # notebook is done and :func:`_shutdown` sets the event
            done.wait()
        except BaseException as err:  # noqa: BLE001 - the worker falls back to a synchronous start
            if "km" not in outcome:
                outcome["error"] = err
            if km is not None:
                _shutdown(km)
        finally:
            if kc is not None:
                kc.stop_channels()
            outcome["ready"].set()

    def prepare(self, key: tuple) -> None:
        """Start the spare kernel for ``key`` in the background."""
        with self.lock:
            self.key, self.folders, self.outcome = key, queue.SimpleQueue(), {"ready": threading.Event()}
            self.thread = threading.Thread(target=self._target, args=(key, self.folders, self.outcome), daemon=True, name="regnorm-prewarm")
            self.thread.start()

    def take(self, key: tuple, folder: str | None, strict: bool = False) -> AsyncKernelManager | None:
        """The spare kernel, moved to ``folder``; None if there is none for ``key`` or it failed
        to start (``strict``: raise that failure instead)."""
        with self.lock:
            thread, old, folders, outcome = self.thread, self.key, self.folders, self.outcome
            self.thread, self.key = None, None
        if thread is None:
            return None
        # prepared for another assignment/config: not usable here, the thread shuts it down
        folders.put(folder if old == key else None)
        outcome["ready"].wait()  # the thread itself lives on with the kernel (see _target)
        if strict and "error" in outcome:
            raise outcome["error"]
        return outcome.get("km")

    def close(self) -> None:
        self.take((), None)


def _spare_ready(kc: Any) -> None:
    """Wait until a new spare kernel answers: :func:`_until_ready`, which ends at the kernel's idle
    status instead of listening 0.2 s more as ``wait_for_ready`` does (when the worker is already
    waiting for its spare, that 0.2 s is pure delay)."""
    asyncio.run(_until_ready(kc, 120))


class _Unused(Exception):
    """The spare was closed without being used."""


def _shutdown(km: AsyncKernelManager, background: bool = False) -> None:
    """Kill the kernel's sandbox at once; then shut the manager down and remove the jail.

    ``background``: the second part (jupyter_client's shutdown waits for the process and
    polls; removing the jail scans /proc) runs in a thread while the worker goes on with
    the notebook's grades; :func:`_close_all` waits for it at exit.
    """
    proc = getattr(getattr(km, "provisioner", None), "process", None)
    if proc is not None and proc.poll() is None:
        proc.kill()  # bwrap: its PID namespace, and every process of the notebook, goes with it
    if not background:
        _finish_shutdown(km)
        return
    thread = threading.Thread(target=_finish_shutdown, args=(km,), daemon=True, name="regnorm-shutdown")
    with _CLEANUPS_LOCK:
        _CLEANUPS[:] = [t for t in _CLEANUPS if t.is_alive()] + [thread]
    thread.start()


_CLEANUPS: list[threading.Thread] = []
_CLEANUPS_LOCK = threading.Lock()


def _finish_shutdown(km: AsyncKernelManager) -> None:
    try:
        run_sync(km.shutdown_kernel)(now=True)
    except Exception:  # noqa: BLE001 - a dead kernel needs no shutdown
        pass
    jail = getattr(km, "regnorm_jail", None)
    if jail is not None:
        jail.close()
    done = getattr(km, "regnorm_done", None)
    if done is not None:
        done.set()  # the thread that started the kernel may end now


class _Spares:
    """A worker's spare kernels, oldest first: the next notebook takes the oldest, and the
    queue is topped up to ``PrewarmedExecute.spares`` (two by default: a kernel's start-up
    takes about as long as a short notebook's grading, and one spare often is not ready yet).
    Only the next notebook's kernel is ever used; each spare serves one notebook."""

    def __init__(self) -> None:
        self.queue: collections.deque[_Spare] = collections.deque()
        self.lock = threading.Lock()

    @property
    def thread(self) -> threading.Thread | None:
        """The starting thread of the oldest spare (None without one)."""
        with self.lock:
            return self.queue[0].thread if self.queue else None

    def prepare(self, key: tuple, depth: int = 1) -> None:
        """Start spare kernels for ``key`` in the background until ``depth`` are waiting."""
        with self.lock:
            while len(self.queue) < max(1, depth):
                spare = _Spare()
                spare.prepare(key)
                self.queue.append(spare)

    def take(self, key: tuple, folder: str | None, strict: bool = False) -> AsyncKernelManager | None:
        """The oldest spare kernel that fits ``key``, moved to ``folder`` (see :meth:`_Spare.take`);
        spares that do not fit or failed are shut down on the way."""
        while True:
            with self.lock:
                if not self.queue:
                    return None
                spare = self.queue.popleft()
            km = spare.take(key, folder, strict)
            if km is not None:
                return km

    def close(self) -> None:
        self.take((), None)


_SPARE = _Spares()


def _close_all() -> None:
    _SPARE.close()
    with _CLEANUPS_LOCK:
        pending = list(_CLEANUPS)
    for thread in pending:  # no kernel or jail outlives the worker
        thread.join(timeout=60)


atexit.register(_close_all)


def _preload(modules: tuple[str, ...]) -> str:
    """Code that imports ``modules`` binding no name, skipping any that cannot be imported."""
    return "".join(f"try:\n    __import__({m!r})\nexcept Exception:\n    pass\n" for m in modules)


#: What the sandbox saw for each notebook folder graded in this process: folder -> notes
#: (a kernel's death reason, the wall-clock limit); read by :func:`sandbox_notes`.
_NOTES: dict[str, list[str]] = {}


def sandbox_notes(folder: str | os.PathLike[str]) -> list[str]:
    """Notes the sandbox recorded while grading the notebook(s) of ``folder`` (and forgets them)."""
    return _NOTES.pop(os.path.abspath(os.fspath(folder)), [])


async def _until_ready(kc: Any, timeout: float) -> None:
    """Wait until a newly connected client's kernel answers on shell and IOPub.

    jupyter_client's ``wait_for_ready`` does this and then listens 0.2 s more for
    stray IOPub messages. Here the wait ends at the IOPub ``idle`` status of our own
    ``kernel_info`` request: everything the kernel published before it has been read
    by then (one ordered IOPub stream) and nbclient ignores messages of other requests.
    If the IOPub subscription came too late to see that status, ask again.
    """
    deadline = time.monotonic() + timeout
    while True:
        msg_id = kc.kernel_info()
        try:
            reply = await ensure_async(kc.shell_channel.get_msg(timeout=1.0))
            while reply["parent_header"].get("msg_id") != msg_id:  # a reply to an earlier ask
                reply = await ensure_async(kc.shell_channel.get_msg(timeout=1.0))
            while True:
                msg = await ensure_async(kc.iopub_channel.get_msg(timeout=0.2))
                if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    kc._handle_kernel_info_reply(reply)  # what wait_for_ready records (protocol version)
                    return
        except Empty:
            pass
        # as wait_for_ready: a dead kernel fails now, not at the deadline
        if not await ensure_async(kc.is_alive()):
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")


class PrewarmedExecute(Execute):
    """nbgrader's ``Execute`` on a pre-started fresh kernel; starts the next one meanwhile."""

    ahead = Bool(True, help="Start the next notebook's kernel while this one runs (grade --no-prewarm: False).").tag(config=True)
    spares = Int(2, help="Spare kernels each worker keeps started ahead (with ahead=True).").tag(config=True)

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
            reason = walled[0].split(":")[0] if walled else death_reason(self.km) or "the kernel stopped"
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
        if self.ahead:
            _SPARE.prepare(key, self.spares)  # the next students' kernels start while this notebook runs
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
