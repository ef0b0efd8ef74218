"""A jupyter_client kernel manager whose kernel starts inside a :class:`~.sandbox.Jail`.

jupyter_client's local provisioner launches the kernel's command; ours launches
the same command wrapped by the jail (bwrap, limits, unprivileged uid), with the
jail's clean environment, in the jail's private working folder. The kernel talks
to the grader over jupyter_client's ``ipc`` transport: Unix sockets in the
jail's socket folder, bound into the sandbox at the same path (the sandbox has
no network). Interrupts go as messages on the control channel (the kernel is in
its own session, out of reach of a process-group signal).
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from typing import Any

from .sandbox import Jail

__all__ = ["jailed_kernel_manager", "death_reason"]

_PROVISIONER: Any = None


def _provisioner_class() -> Any:
    from jupyter_client.provisioning import LocalProvisioner

    class JailProvisioner(LocalProvisioner):  # type: ignore[misc, valid-type]
        """jupyter_client's local provisioner, launching the kernel inside ``self.jail``."""

        jail: Jail | None = None

        async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
            jail = self.jail
            assert jail is not None
            i = cmd.index("-f")
            jail.give(cmd[i + 1])  # the connection file: readable by the kernel's uid only
            wrapped = jail.command(cmd) if jail.cfg.enabled else list(cmd)
            env = jail.env() if jail.cfg.enabled else {k: str(v) for k, v in (kwargs.get("env") or os.environ).items()}
            # the kernel's own stdout/stderr (its banner, a student's os.write(1, ...)) would land
            # on the grader's terminal, over the progress bar: the notebook's outputs go by messages
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            return await super().launch_kernel(wrapped, **{**kwargs, **quiet, "env": env, "cwd": str(jail.work)})

    return JailProvisioner


def jailed_kernel_manager(jail: Jail, kernel_name: str = "python3") -> Any:
    """An ``AsyncKernelManager`` whose kernel will start inside ``jail``.

    Shape:
        A jail -> a kernel manager (call ``start_kernel`` on it as usual).
    """
    from jupyter_client import AsyncKernelManager

    global _PROVISIONER
    if _PROVISIONER is None:
        _PROVISIONER = _provisioner_class()
    km = AsyncKernelManager(kernel_name=kernel_name, transport="ipc")
    km.kernel_id = str(uuid.uuid4())
    km.ip = str(jail.ipc / "k")  # sockets k-<port>: short paths (a socket path has at most 107 bytes)
    km.connection_file = str(jail.ipc / "kernel.json")
    spec = km.kernel_spec  # cached on the manager: our change sticks
    spec.interrupt_mode = "message"
    prov = _PROVISIONER(kernel_id=km.kernel_id, kernel_spec=spec, parent=km)
    prov.jail = jail
    km.provisioner = prov
    return km


def death_reason(km: Any) -> str | None:
    """Why a kernel's process ended, if it has (None while it runs).

    bwrap exits with its command's status; a kernel killed by a signal shows as
    128 + the signal's number (SIGKILL: the memory or wall-clock limit or a crash;
    SIGXCPU: the CPU-time limit; SIGXFSZ: the file-size limit).
    """
    proc = getattr(getattr(km, "provisioner", None), "process", None)
    code = None if proc is None else proc.poll()
    if code is None:
        return None
    sig = -code if code < 0 else code - 128 if code > 128 else 0
    if sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        why = {"SIGXCPU": "the CPU-time limit", "SIGXFSZ": "the file-size limit", "SIGKILL": "a kill (memory, wall clock or a crash)",
               "SIGSEGV": "a crash"}.get(name, "a signal")
        return f"kernel killed by {name} ({why})"
    return f"kernel exited with code {code}"
