"""Fresh kernels forked from a pre-imported template process (a *zygote*), for fast autograding.

A kernel that starts with ``python -m ipykernel_launcher`` and then imports the
assignment's setup modules (numpy, and torch through ``regnorm_lab.grading``)
spends seconds of CPU before the first student cell runs. The zygote pays that
once per grading worker: it is a plain Python process that has imported
ipykernel and those modules, executed nothing else, and forks one child per
kernel. Each child is a brand-new process (copy-on-write memory, no state of any
other kernel, nothing of the grading worker) that moves to the notebook's
folder, takes the kernel's environment and runs ``IPKernelApp`` on the connection
file jupyter_client wrote, exactly like ``ipykernel_launcher -f <file>``.

:class:`ZygoteProvisioner` plugs this into jupyter_client (so nbclient signals,
interrupts and kills the kernel as usual); :func:`zygote_kernel_manager` returns
an ``AsyncKernelManager`` that uses it. ``python -m regnorm_lab.course.zygote
IPC_DIR MODULE...`` is the zygote itself: it reads one JSON request per line on
stdin and answers with the child's pid; when stdin closes (its worker is gone) it
removes IPC_DIR, the folder of its kernels' sockets.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from typing import Any

__all__ = ["Zygote", "ZygoteProvisioner", "zygote_kernel_manager"]


# ---- the zygote process ---------------------------------------------------------------------

def _serve(ipc_dir: str, modules: list[str]) -> None:
    import importlib
    import shutil

    import ipykernel.kernelapp  # noqa: F401 - the point: imported once, shared by every fork

    for m in modules:
        importlib.import_module(m)

    def reap(_sig: int, _frame: Any) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    signal.signal(signal.SIGCHLD, reap)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # nothing the zygote or its children print can corrupt the answers
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(req)  # never returns
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
    # stdin closed: the worker is gone (even if it was killed); its kernels' sockets go too
    shutil.rmtree(ipc_dir, ignore_errors=True)


def _child(req: dict[str, Any]) -> None:
    code = 1
    try:
        os.setsid()  # own process group, as jupyter_client's launcher does: interrupts reach the kernel only
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        os.environ["JPY_PARENT_PID"] = str(os.getppid())  # the kernel exits when the zygote does
        if sys.path and sys.path[0] in ("", req.get("zygote_cwd")):
            # as ipykernel_launcher does; IPython puts "" (the current folder) back in init_path
            del sys.path[0]
        sys.argv = [sys.executable, "-f", req["connection_file"], *req["args"]]
        from ipykernel.kernelapp import launch_new_instance

        launch_new_instance(argv=["-f", req["connection_file"], *req["args"]])
        code = 0
    finally:
        os._exit(code)


# ---- the worker side ------------------------------------------------------------------------

class Zygote:
    """A running zygote process (one per grading worker and set of preloaded modules)."""

    def __init__(self, modules: tuple[str, ...], env: dict[str, str], cwd: str) -> None:
        self.modules = modules
        self.cwd = cwd
        self.lock = threading.Lock()
        # the kernels' Unix sockets (see zygote_kernel_manager), private (mode 0700); it lives
        # as long as the zygote: removed by close(), or by the zygote when the worker dies
        self.ipc_dir = tempfile.mkdtemp(prefix="regnorm-kernels-")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "regnorm_lab.course.zygote", self.ipc_dir, *modules],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=cwd, text=True, start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def fork(self, connection_file: str, cwd: str, args: list[str], env: dict[str, str]) -> int:
        """Fork a kernel; return its pid."""
        req = {"connection_file": connection_file, "cwd": cwd, "args": args, "env": env, "zygote_cwd": self.cwd}
        with self.lock:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the kernel zygote exited (code {self.proc.poll()})")
        return int(json.loads(line)["pid"])

    def close(self) -> None:
        """Stop the zygote at once: it holds nothing to save, and an orderly exit of an
        interpreter that imported torch takes ~0.5 s. Kernels it forked exit with it
        (their ``parent_handle`` is the zygote)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        shutil.rmtree(self.ipc_dir, ignore_errors=True)


class _Forked:
    """A Popen-like handle on a kernel forked by the zygote (not our child: polled by pid)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            state = "X"
        if state in ("Z", "X"):
            self.returncode = -signal.SIGKILL
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import time

        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.02)
        return int(self.returncode)  # type: ignore[arg-type]

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _provisioner_class():
    from jupyter_client.provisioning import LocalProvisioner

    class ZygoteProvisioner(LocalProvisioner):  # type: ignore[misc, valid-type]
        """jupyter_client's local provisioner, launching by fork from a :class:`Zygote`."""

        zygote: Zygote | None = None

        async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
            i = cmd.index("-f")
            env = {k: str(v) for k, v in (kwargs.get("env") or os.environ).items()}
            cwd = str(kwargs.get("cwd") or os.getcwd())
            assert self.zygote is not None
            pid = self.zygote.fork(cmd[i + 1], cwd, list(cmd[i + 2:]), env)
            self.process = _Forked(pid)
            self.pid = pid
            self.pgid = pid  # the child called setsid()
            self.cwd = cwd
            return self.connection_info

    return ZygoteProvisioner


ZygoteProvisioner = None  # the class is built on first use (jupyter_client imported lazily)


def zygote_kernel_manager(zygote: Zygote, kernel_name: str = "python3") -> Any:
    """An ``AsyncKernelManager`` whose kernel will be forked by ``zygote``.

    Shape:
        A zygote -> a kernel manager (call ``start_kernel`` on it as usual).
    """
    import uuid

    from jupyter_client import AsyncKernelManager

    global ZygoteProvisioner
    if ZygoteProvisioner is None:
        ZygoteProvisioner = _provisioner_class()
    # IPC transport (Unix sockets in a private folder) instead of loopback TCP: no ports to
    # pick, so two workers starting kernels at once cannot race for one (a kernel that
    # loses that race cannot bind and dies: a wrong "kernel died" for that student), and
    # no other user of the machine can connect to a student's kernel
    km = AsyncKernelManager(kernel_name=kernel_name, transport="ipc")
    km.kernel_id = str(uuid.uuid4())
    km.ip = os.path.join(zygote.ipc_dir, km.kernel_id[:13])  # short: a socket path has at most 107 bytes
    prov = ZygoteProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
    prov.zygote = zygote
    km.provisioner = prov
    return km


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2:])
