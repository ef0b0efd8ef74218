"""A fresh sandboxed kernel the grader's clock can time, freeze and pin (:mod:`.clock`).

:class:`TimedKernel` starts a kernel in its own :class:`~.sandbox.Jail` (the reference
package hidden: the timed code needs torch only), runs code over a blocking client and
times each request from send to reply with ``time.perf_counter()`` in the grader.
:meth:`~TimedKernel.freeze` stops its whole process tree (SIGSTOP: every thread of the
kernel and anything it forked; as root also every process of the jail's uid), so a
student's background thread gets no CPU while the other kernel is timed;
:meth:`~TimedKernel.pin` puts every thread on one CPU.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import time
from typing import Any

__all__ = ["TimedKernel"]


class TimedKernel:
    """One fresh kernel in its own jail (reference hidden), driven over a blocking client."""

    def __init__(self, config: Any, folder: str | None) -> None:
        from .sandbox import Jail, Sandbox
        from .sandbox_kernel import jailed_kernel_manager

        sandbox = Sandbox(config=config)
        sandbox.hide_reference = True  # the timed code needs torch, never the reference package
        self.jail = Jail(sandbox)
        self.km = None
        self.kc = None
        try:
            if folder:
                self.jail.fill(folder)
            self.km = jailed_kernel_manager(self.jail, "python3")
            asyncio.run(self.km.start_kernel(extra_arguments=["--HistoryManager.hist_file=:memory:"]))
            self.kc = self.km.blocking_client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=120)
        except BaseException:
            self.close()  # no kernel or jail left behind
            raise

    # -- processes --
    def _pids(self) -> set[int]:
        """The kernel's whole process tree (bwrap and all it started), and, as root, every process of the jail's uid."""
        proc = getattr(self.km.provisioner, "process", None) if self.km is not None else None
        if proc is None:
            return set()
        children: dict[int, list[int]] = {}
        uid_pids: set[int] = set()
        for entry in pathlib.Path("/proc").glob("[0-9]*"):
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
                if self.jail.uid is not None and entry.stat().st_uid == self.jail.uid:
                    uid_pids.add(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
        out, todo = set(), [proc.pid]
        while todo:
            pid = todo.pop()
            if pid not in out:
                out.add(pid)
                todo.extend(children.get(pid, []))
        return out | uid_pids

    def signal(self, sig: int) -> None:
        for pid in self._pids():
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def freeze(self) -> None:
        self.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.signal(signal.SIGCONT)

    def pin(self, cpu: int) -> None:
        """Every thread of the kernel's tree on one CPU (re-done before each timed request: a student may widen it)."""
        for pid in self._pids():
            for task in pathlib.Path(f"/proc/{pid}/task").glob("[0-9]*"):
                try:
                    os.sched_setaffinity(int(task.name), {cpu})
                except OSError:
                    pass

    # -- requests --
    def run(self, code: str, timeout: float, *, output: bool = True) -> tuple[str, str, float]:
        """Execute ``code``; (status, stdout text, seconds from sending the request to its reply)."""
        assert self.kc is not None
        start = time.perf_counter()
        msg_id = self.kc.execute(code, silent=not output, store_history=False, allow_stdin=False)
        deadline = start + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return "timeout", "", time.perf_counter() - start
            try:
                reply = self.kc.get_shell_msg(timeout=left)
            except Exception:  # noqa: BLE001 - queue.Empty: the deadline passed
                return "timeout", "", time.perf_counter() - start
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
        seconds = time.perf_counter() - start
        text = self._stdout(msg_id, timeout=10.0) if output else ""
        return str(reply["content"].get("status", "error")), text, seconds

    def _stdout(self, msg_id: str, timeout: float) -> str:
        parts: list[str] = []
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            try:
                msg = self.kc.get_iopub_msg(timeout=max(0.01, deadline - time.perf_counter()))
            except Exception:  # noqa: BLE001 - queue.Empty
                break
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream" and msg["content"].get("name") == "stdout":
                parts.append(msg["content"].get("text", ""))
            if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                break
        return "".join(parts)

    def close(self) -> None:
        try:
            self.thaw()  # a stopped process does not die of a polite shutdown
            if self.kc is not None:
                self.kc.stop_channels()
            if self.km is not None:
                asyncio.run(self.km.shutdown_kernel(now=True))
        except Exception:  # noqa: BLE001 - a dead kernel needs no shutdown
            pass
        finally:
            proc = getattr(getattr(self.km, "provisioner", None), "process", None) if self.km is not None else None
            if proc is not None and proc.poll() is None:
                proc.kill()
            self.jail.close()
