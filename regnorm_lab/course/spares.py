"""A grading worker's spare kernels: started ahead, each in its own jail, used once, shut down.

A spare (:class:`_Spare`) is started by a background thread: a new
:class:`~.sandbox.Jail`, the kernel inside it (:func:`.sandbox_kernel.jailed_kernel_manager`),
a client that waits until the kernel answers (:func:`_until_ready`), the setup
cells' imports (:func:`_preload`); then it waits until a notebook takes it,
copies that student's files into the jail and hands the kernel over. The queue
(:class:`_Spares`, one per worker process: ``_SPARE``) keeps
``PrewarmedExecute.spares`` of them started. :func:`_shutdown` kills a used
kernel's sandbox at once and finishes the shutdown in the background; at exit
every spare and pending shutdown is waited for, so no kernel or jail outlives
the worker. :mod:`.prewarm` is the one user.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import queue
import threading
import time
from queue import Empty
from typing import Any

from jupyter_client import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync

from .sandbox import Jail, Sandbox
from .sandbox_kernel import jailed_kernel_manager

__all__ = ["_Spare", "_Spares", "_SPARE", "_shutdown", "_until_ready", "_execute_silent", "_preload"]


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


def _spare_ready(kc: Any, timeout: float = 120.0) -> None:
    """Wait until a new spare kernel answers, on the spare thread's blocking client.

    The synchronous twin of :func:`_until_ready`: it ends at the kernel's idle status
    instead of listening 0.2 s more as ``wait_for_ready`` does (when the worker is
    already waiting for its spare, that 0.2 s is pure delay). No event loop here: the
    blocking client's ``is_alive`` runs its own, and inside ``asyncio.run`` it hung.
    """
    deadline = time.monotonic() + timeout
    while True:
        msg_id = kc.kernel_info()
        try:
            reply = kc.get_shell_msg(timeout=1.0)
            while reply["parent_header"].get("msg_id") != msg_id:  # a reply to an earlier ask
                reply = kc.get_shell_msg(timeout=1.0)
            while True:
                msg = kc.get_iopub_msg(timeout=0.2)
                if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    kc._handle_kernel_info_reply(reply)  # what wait_for_ready records (protocol version)
                    return
        except Empty:
            pass
        if not kc.is_alive():  # a dead kernel fails now, not at the deadline
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")


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
