"""A fresh kernel for every student, started before it is needed: :class:`PrewarmedExecute`.

Starting a kernel and importing the setup cell's modules (numpy, torch through
``regnorm_lab.grading``) takes longer than running a short assignment's cells.
Re-using a kernel across students is not safe (a student's state would leak into
the next one's grade). Instead each grading worker

- keeps a :class:`~.zygote.Zygote`: a process that imported ipykernel and the
  modules the assignment's locked setup cells import, and forks one brand-new
  kernel process per notebook (no other kernel's state, nothing of the worker);
- keeps ONE spare kernel forked ahead of time, with the same kernel name,
  arguments and environment nbgrader's ``Execute`` would use. When a notebook is
  due the worker takes the spare, moves it to the notebook's folder (cwd and
  ``sys.path[0]``, as if launched there), hands it to nbclient, and forks the next
  spare in a background thread while the notebook runs. Each kernel is shut down
  after its one notebook.

Enable it in a worker's config with :func:`enable` (``grade --no-prewarm`` turns it off).
"""

from __future__ import annotations

import ast
import asyncio
import atexit
import os
import threading
from typing import Any

from jupyter_client import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute

from .zygote import Zygote, zygote_kernel_manager

__all__ = ["PrewarmedExecute", "enable", "preload_modules"]

_EXECUTE = "nbgrader.preprocessors.Execute"
_SELF = "regnorm_lab.course.prewarm.PrewarmedExecute"


def enable(overrides: dict[str, Any], cfg: Any) -> dict[str, Any]:
    """Config overrides that put :class:`PrewarmedExecute` in place of nbgrader's ``Execute``.

    Shape:
        (overrides dict, the course Config) -> a new overrides dict.
    """
    steps = list(cfg.Autograde.autograde_preprocessors) if "autograde_preprocessors" in cfg.Autograde else [_EXECUTE]
    steps = [_SELF if (s == _EXECUTE or s is Execute) else s for s in steps]
    # the subclass reads the Execute section (timeout, kernel name) like the original
    return {**overrides, "Autograde": {**overrides.get("Autograde", {}), "autograde_preprocessors": steps}}


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


def _run_silent(km: AsyncKernelManager, code: str, timeout: float = 120.0) -> None:
    """Run ``code`` in the kernel without output, history or an execution count."""
    kc = km.blocking_client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=timeout)
        reply = kc.execute_interactive(code, silent=True, store_history=False, timeout=timeout)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"prewarm code failed: {reply['content'].get('ename')}: {reply['content'].get('evalue')}")
    finally:
        kc.stop_channels()


class _Spare:
    """One worker's spare kernel, started by a background thread."""

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.km: AsyncKernelManager | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    @staticmethod
    def start(key: tuple) -> AsyncKernelManager:
        kernel_name, extra, modules, env = key
        full_env = {**os.environ, **dict(env)}
        full_env.pop("JPY_PARENT_PID", None)
        zygote = _zygote(modules, full_env)
        km = zygote_kernel_manager(zygote, kernel_name)
        # a neutral folder to start in; the kernel moves to the notebook's folder when taken.
        # parent_handle: ipykernel read JPY_PARENT_PID when the zygote imported it, so say it
        # again; the kernel exits if the zygote (and so the worker) goes away
        args = [*extra, f"--IPKernelApp.parent_handle={zygote.proc.pid}"]
        asyncio.run(km.start_kernel(extra_arguments=args, cwd=zygote.cwd, env=full_env))
        return km

    def _target(self, key: tuple) -> None:
        try:
            self.km = self.start(key)
        except BaseException as err:  # noqa: BLE001 - the worker falls back to a synchronous start
            self.error = err

    def prepare(self, key: tuple) -> None:
        with self.lock:
            self.key, self.km, self.error = key, None, None
            self.thread = threading.Thread(target=self._target, args=(key,), daemon=True, name="regnorm-prewarm")
            self.thread.start()

    def take(self, key: tuple) -> AsyncKernelManager | None:
        with self.lock:
            thread, km, old = self.thread, None, self.key
            if thread is not None:
                thread.join()
                km = self.km
            self.thread, self.km, self.key = None, None, None
        if km is not None and old != key:
            _shutdown(km)  # prepared for another assignment/config: not usable here
            return None
        return km

    def close(self) -> None:
        km = self.take(self.key) if self.thread is not None else None
        if km is not None:
            _shutdown(km)


def _shutdown(km: AsyncKernelManager) -> None:
    try:
        run_sync(km.shutdown_kernel)(now=True)
    except Exception:  # noqa: BLE001 - a dead kernel needs no shutdown
        pass


_SPARE = _Spare()
_ZYGOTES: dict[tuple, Zygote] = {}
_ZLOCK = threading.Lock()


def _zygote(modules: tuple[str, ...], env: dict[str, str]) -> Zygote:
    """This worker's zygote for these modules and environment (started on first use, restarted if dead)."""
    key = (modules, tuple(sorted(env.items())))
    with _ZLOCK:
        z = _ZYGOTES.get(key)
        if z is None or not z.alive():
            z = _ZYGOTES[key] = Zygote(modules, env, os.path.expanduser("~"))
        return z


def _close_all() -> None:
    _SPARE.close()
    for z in _ZYGOTES.values():
        z.close()


atexit.register(_close_all)


def _move_to(path: str) -> str:
    """Code that moves a kernel to ``path`` as if launched there (cwd and ``sys.path[0]``), binding no name."""
    return (
        f"if __import__('sys').path[:1] == [__import__('os').getcwd()]: __import__('sys').path[0] = {path!r}\n"
        f"__import__('os').chdir({path!r})\n"
    )


class PrewarmedExecute(Execute):
    """nbgrader's ``Execute`` on a pre-started fresh kernel; starts the next one meanwhile."""

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> tuple[NotebookNode, Any]:
        if km is not None:
            return super().preprocess(nb, resources, km=km)
        path = (resources or {}).get("metadata", {}).get("path") or os.getcwd()
        kernel_name = self.kernel_name or nb.metadata.get("kernelspec", {}).get("name", "python3")
        # nbgrader runs the autograde pass with NBGRADER_EXECUTION=autograde in the kernel's environment
        env = (("NBGRADER_EXECUTION", os.environ.get("NBGRADER_EXECUTION", "autograde")),)
        key = (kernel_name, tuple(self.extra_arguments), preload_modules(nb), env)
        km = _SPARE.take(key) or _Spare.start(key)
        _SPARE.prepare(key)  # the next student's kernel starts while this notebook runs
        try:
            _run_silent(km, _move_to(os.path.abspath(path)))
            return super().preprocess(nb, resources, km=km)
        finally:
            _shutdown(km)
