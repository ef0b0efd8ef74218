"""A bubblewrap sandbox around every kernel that runs student code.

Each kernel runs in its own ``bwrap`` sandbox (:class:`Jail`): new network, PID,
IPC and UTS namespaces (no network at all, not even the grading machine's
loopback services; the grader and its own processes are invisible), a read-only
system (``/usr``, the ``/lib*`` links, a few files of ``/etc``, the Python
installation and the virtual environment), a fresh ``/tmp`` tmpfs as scratch and
exactly two folders of the host: a private *copy* of the student's submission
folder (the kernel's working folder) and the folder of the kernel's Unix sockets
(jupyter_client's ``ipc`` transport). The course folder (source/, release/,
other submissions, gradebooks, nbgrader config) and the repository are not
mounted, and the environment is cleared (no database URL, no secrets). The
kernel runs as an unprivileged uid with no capabilities and no new privileges,
dies with its grader (``--die-with-parent``), in a new session, under resource
limits (address space, CPU time, processes, file size) and a wall clock per
notebook. Everything is configurable in ``nbgrader_config.py`` through
:class:`Sandbox` (``c.Sandbox.memory_mb = 2048``, ...).

The reference is not importable (``hide_reference``, on by default): the kernel
gets a stub ``regnorm_lab`` holding only the stand-alone probe and its test-input
generators (:func:`stub_tree`), and the real package's folder is neither mounted
nor readable by path, so delegating to the reference fails instead of being
detected afterwards. One documented exception (:func:`reference_hidden`): a
notebook whose locked setup cells import other course modules keeps the package,
since it could not run without it; since ps07 moved to the probe, no assignment does.

Which uid: when the grader runs as root (bwrap then needs no user namespace),
each kernel gets its own host uid from ``Sandbox.uid_base`` on, through
``setpriv``: the process limit counts only that kernel's processes and two
kernels cannot signal each other. An unprivileged grader runs bwrap with a user
namespace (uid 65534 inside; on the host every kernel is the grader's own uid), and the
process limit counts the processes of that kernel's namespace only (see :meth:`Jail.command`).

:func:`check` runs ``bwrap ... true`` once before grading and explains what to
change when the machine cannot create the namespaces.
"""

from __future__ import annotations

import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from traitlets import Bool, Int, Unicode
from traitlets.config import Configurable

__all__ = ["Sandbox", "SandboxUnavailable", "Jail", "check", "stub_tree", "probe_only", "needs_package", "reference_hidden",
           "UNSANDBOXED", "JAIL_ROOT"]

#: Environment variable naming the folder the jails of a grading run are made in.
JAIL_ROOT = "REGNORM_JAIL_ROOT"

#: The flag every status row gets when grading ran without the sandbox (``--no-sandbox``).
UNSANDBOXED = "UNSANDBOXED: graded without the sandbox (--no-sandbox); student code ran with the grader's rights"


class Sandbox(Configurable):
    """Settings of the kernel sandbox (section ``c.Sandbox`` of ``nbgrader_config.py``)."""

    enabled = Bool(True, help="Run every grading kernel in a bubblewrap sandbox. False (--no-sandbox) "
                   "is recorded in the status report and the export.").tag(config=True)
    bwrap = Unicode("bwrap", help="The bubblewrap executable.").tag(config=True)
    hide_reference = Bool(True, help="Hide the regnorm_lab package from the kernel: only the stand-alone "
                          "regnorm_lab.course.probe module (and its test inputs) is importable, and the package's "
                          "files cannot be read by path. Exception: a notebook whose locked setup cells import other "
                          "regnorm_lab modules keeps the package (no assignment does since ps07 moved to the probe). "
                          "False shows the package to every kernel.").tag(config=True)
    hide_reference_for_probe = Bool(True, help="Hide the regnorm_lab package from a notebook whose locked setup "
                                    "cells import only the probe (regnorm_lab.course[.probe]), whatever hide_reference "
                                    "says: such a notebook needs no reference in its kernel.").tag(config=True)
    memory_mb = Int(2048, help="Address-space limit of each kernel process (RLIMIT_AS), MiB.").tag(config=True)
    cpu_seconds = Int(600, help="CPU time limit of each kernel process (RLIMIT_CPU), seconds.").tag(config=True)
    processes = Int(256, help="Processes and threads of each kernel (RLIMIT_NPROC: of its uid as root, of its "
                    "user namespace for an unprivileged grader).").tag(config=True)
    file_size_mb = Int(64, help="Largest file the kernel may write (RLIMIT_FSIZE), MiB.").tag(config=True)
    tmp_size_mb = Int(256, help="Size of the kernel's scratch /tmp (a tmpfs), MiB.").tag(config=True)
    wall_seconds = Int(900, help="Wall-clock limit per notebook, seconds: the kernel is killed after it.").tag(config=True)
    uid_base = Int(1_900_000_000, help="When grading as root: kernels run as host uids from this one on "
                   "(one uid per kernel; pick a range no account uses).").tag(config=True)


class SandboxUnavailable(RuntimeError):
    """bwrap cannot create the sandbox on this machine; the message names the cause and the fix."""


def _system_binds() -> list[str]:
    """Read-only system paths: /usr, the /bin, /lib* links (or folders), a few /etc files."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    # the loader cache, time zone and fonts (matplotlib); no passwd, hosts or resolver files
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/fonts"):
        if os.path.exists(f):
            args += ["--ro-bind", f, f]
    return args


def _package_dir() -> str:
    """The folder of the installed ``regnorm_lab`` package (the repository's, for an editable install)."""
    import regnorm_lab

    return os.path.dirname(os.path.realpath(regnorm_lab.__file__))


def _python_binds(hide_reference: bool) -> list[str]:
    """The Python installation and the virtual environment, read-only; the package unless hidden."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    if sys.prefix != sys.base_prefix:
        paths.add(sys.prefix)  # the venv as named in the kernel spec's argv (symlinks kept)
    pkg = _package_dir()
    inside = any(pkg.startswith(p + os.sep) for p in paths)
    if not hide_reference and not inside:
        # an editable install maps regnorm_lab to the repository's folder: bind only the package
        # (its course/ included), never the repository (exercises/ holds the course)
        paths.add(pkg)
    args: list[str] = []
    for p in sorted(paths, key=len):
        args += _parents(p) + ["--ro-bind", p, p]
    if hide_reference and inside:
        # a regular install lives in site-packages, inside the bound venv: an empty tmpfs over its
        # folder, so the reference can be neither imported nor read by path
        args += ["--tmpfs", pkg, "--remount-ro", pkg]
    return args


def _parents(path: str) -> list[str]:
    """Create the parents of a bind target as 0755 folders (bwrap would make them 0700, which
    the kernel's uid could not pass through, e.g. /root for a Python under /root/.pyenv)."""
    parts = pathlib.PurePosixPath(path).parents
    args: list[str] = []
    for parent in reversed(list(parts)[:-1]):  # without "/"
        args += ["--perms", "0755", "--dir", str(parent)]
    return args


def probe_only(modules: tuple[str, ...] | list[str]) -> bool:
    """Whether a notebook's setup imports (see :func:`.prewarm.preload_modules`) use the probe and no other course code.

    Shape:
        Dotted module names -> bool.
    """
    ours = [m for m in modules if m == "regnorm_lab" or m.startswith("regnorm_lab.")]
    return bool(ours) and all(m in ("regnorm_lab.course", "regnorm_lab.course.probe") for m in ours)


def needs_package(modules: tuple[str, ...] | list[str]) -> bool:
    """Whether a notebook's setup imports course modules other than the probe (none of the course's does now).

    Shape:
        Dotted module names -> bool.
    """
    return any((m == "regnorm_lab" or m.startswith("regnorm_lab.")) and m not in ("regnorm_lab.course", "regnorm_lab.course.probe")
               for m in modules)


def reference_hidden(cfg: Sandbox, modules: tuple[str, ...] | list[str]) -> bool:
    """Whether the kernel of a notebook whose setup imports ``modules`` gets the stub package instead of the reference.

    Hidden when ``hide_reference`` is on, unless the setup itself imports other course
    modules (:func:`needs_package`: the notebook could not run without them; an
    exception no assignment needs since ps07 moved to the probe), and always for a notebook on the
    probe when ``hide_reference_for_probe`` is on. Only the instructor's locked
    cells count (:func:`.prewarm.preload_modules`), so a student cannot ask for the package.

    Shape:
        Settings and dotted module names -> bool.
    """
    if cfg.hide_reference_for_probe and probe_only(modules):
        return True
    return bool(cfg.hide_reference) and not needs_package(modules)


def stub_tree(folder: str | os.PathLike[str]) -> pathlib.Path:
    """A package tree where ``regnorm_lab`` holds nothing but ``course/probe.py`` (and its ``cases/``).

    Empty ``regnorm_lab/__init__.py`` and ``regnorm_lab/course/__init__.py`` plus
    copies of the stand-alone probe module and its test-input package ``cases``
    (when they exist): first on the kernel's
    ``sys.path``, it is the only ``regnorm_lab`` the sandbox can import, so the
    reference implementations are out of reach.

    Shape:
        A folder -> the folder to put first on ``sys.path``.
    """
    root = pathlib.Path(folder)
    course = root / "regnorm_lab" / "course"
    course.mkdir(parents=True, exist_ok=True)
    (root / "regnorm_lab" / "__init__.py").write_text("")
    (course / "__init__.py").write_text("")
    here = pathlib.Path(__file__).parent
    if (here / "probe.py").exists():
        shutil.copy(here / "probe.py", course / "probe.py")
    if (here / "cases").is_dir():  # the probe's test-input generators (stdlib and numpy only)
        shutil.copytree(here / "cases", course / "cases", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)
    return root


def _limits(cfg: Sandbox) -> list[str]:
    mb = 1024 * 1024
    return ["prlimit", f"--as={cfg.memory_mb * mb}", f"--cpu={cfg.cpu_seconds}", f"--nproc={cfg.processes}",
            f"--fsize={cfg.file_size_mb * mb}", "--core=0", "--"]


class Jail:
    """One kernel's sandbox: its private folders and the command that starts it.

    ``work`` is the kernel's working folder (the student's files are copied in by
    :meth:`fill`), ``ipc`` the folder of its connection file and sockets; both live
    under a fresh ``tempfile`` folder removed by :meth:`close`.
    """

    def __init__(self, cfg: Sandbox) -> None:
        self.cfg = cfg
        # under $REGNORM_JAIL_ROOT when the grade coordinator set one (it removes that folder at
        # the end, also what a killed worker left); short paths: a socket path has at most 107 bytes
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="sbx-" if os.environ.get(JAIL_ROOT) else "regnorm-sbx-",
                                                  dir=os.environ.get(JAIL_ROOT) or None))
        os.chmod(self.root, 0o711)  # the kernel's uid may pass through, not list
        self.work = self.root / "work"
        self.ipc = self.root / "ipc"
        self.uid = self.cfg.uid_base + random.randrange(1_000_000) if os.geteuid() == 0 else None
        for d in (self.work, self.ipc):
            d.mkdir(mode=0o700)
            self._own(d)
        self.stub = stub_tree(self.root / "stub") if cfg.hide_reference else None

    def _own(self, path: pathlib.Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)

    def fill(self, folder: str | os.PathLike[str]) -> None:
        """Copy the files of ``folder`` (a student's submission) into the private working folder."""
        src = pathlib.Path(folder)
        for path in sorted(src.rglob("*")):
            if path.is_symlink():
                continue  # a link could point anywhere on the grading machine
            target = self.work / path.relative_to(src)
            if path.is_dir():
                target.mkdir(exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            self._own(target)

    def env(self) -> dict[str, str]:
        """The kernel's whole environment: nothing of the grader's (no database URL, no secrets)."""
        env = {
            "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "MPLCONFIGDIR": "/tmp/mpl",
            "PYTHONDONTWRITEBYTECODE": "1", "NBGRADER_EXECUTION": os.environ.get("NBGRADER_EXECUTION", "autograde"),
        }
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TZ"):
            if name in os.environ:  # speed settings, not secrets
                env[name] = os.environ[name]
        if self.stub is not None:
            env["PYTHONPATH"] = str(self.stub)
        return env

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` (the kernel's command) wrapped in bwrap, as root setpriv, and prlimit (innermost)."""
        c = self.cfg
        args = [c.bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                "--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
        if self.uid is None:
            args += ["--unshare-user", "--uid", "65534", "--gid", "65534"]
        # the scratch /tmp first: a checkout (and its venv) may itself live under the host's /tmp,
        # and a tmpfs mounted after its bind would hide the kernel's own Python
        args += ["--perms", "1777", "--size", str(c.tmp_size_mb * 1024 * 1024), "--tmpfs", "/tmp"]
        args += _system_binds() + _python_binds(c.hide_reference)
        args += ["--proc", "/proc", "--dev", "/dev"]
        # after the /tmp tmpfs: these live under the host's temporary folder, bound at the same paths
        for d in (self.work, self.ipc):
            args += _parents(str(d)) + ["--bind", str(d), str(d)]
        if self.stub is not None:
            args += ["--ro-bind", str(self.stub), str(self.stub)]
        args += ["--chdir", str(self.work)]
        for k, v in self.env().items():
            args += ["--setenv", k, v]
        args.append("--")
        if self.uid is not None:
            args += ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--no-new-privs",
                     "--inh-caps=-all", "--bounding-set=-all", "--"]
        # the limits go INSIDE the sandbox, on the kernel only: an unprivileged grader's bwrap creates
        # a user namespace, and Linux caps all processes of the grader's host uid at the RLIMIT_NPROC
        # of the namespace's creator. Set on bwrap, one kernel's fork loop would use up that shared
        # budget and every kernel started meanwhile (other students') would die at start-up; set in
        # here, it counts the processes of this kernel's own namespace and bwrap keeps the grader's limit.
        return args + _limits(c) + list(argv)

    def give(self, path: str | os.PathLike[str]) -> None:
        """Let the kernel's uid read ``path`` (the connection file the grader wrote)."""
        self._own(pathlib.Path(path))

    def close(self) -> None:
        """Kill whatever still runs as this jail's uid (a kernel whose bwrap was killed while it was
        setting up can outlive it), then remove the jail's folders."""
        if self.uid is not None:
            for proc in pathlib.Path("/proc").glob("[0-9]*"):
                try:
                    if proc.stat().st_uid == self.uid:
                        os.kill(int(proc.name), 9)
                except (OSError, ValueError):
                    pass  # gone meanwhile
        shutil.rmtree(self.root, ignore_errors=True)


def _diagnose(stderr: str) -> str:
    """The likely cause of a bwrap failure and its fix, from its message and the kernel settings."""
    def read(path: str) -> str:
        try:
            return pathlib.Path(path).read_text().strip()
        except OSError:
            return ""

    if not re.search(r"namespace|not permitted|uid map|setting up|Permission denied|unshare|clone", stderr, re.I):
        return f"bwrap failed: {stderr.strip()[:300]}. Fix: check c.Sandbox settings (bwrap, binds) and run `bwrap --version`."
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        return ("AppArmor forbids unprivileged user namespaces (Ubuntu >= 23.10: "
                "kernel.apparmor_restrict_unprivileged_userns = 1). Fix: allow bwrap with an AppArmor profile "
                "(e.g. /etc/apparmor.d/bwrap with 'userns,'), or `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`.")
    if read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        return "unprivileged user namespaces are switched off. Fix: `sudo sysctl kernel.unprivileged_userns_clone=1`."
    if read("/proc/sys/user/max_user_namespaces") == "0":
        return "user namespaces are switched off. Fix: `sudo sysctl user.max_user_namespaces=15000`."
    if os.path.exists("/.dockerenv") or "docker" in read("/proc/1/cgroup"):
        return ("this runs in a Docker container whose default seccomp profile forbids creating namespaces. "
                "Fix: grade outside the container, or start it with `--security-opt seccomp=unconfined` "
                "(or a seccomp profile that allows clone/unshare of namespaces).")
    return ("the kernel refused to create namespaces (a seccomp filter, an LSM or a sysctl). Fix: allow "
            "unprivileged user namespaces for bwrap, or grade as root on the host.")


def check(cfg: Sandbox) -> None:
    """Run ``bwrap ... true`` with the grading kernels' settings; raise :class:`SandboxUnavailable` if it fails.

    The message names the cause (bwrap missing, user namespaces forbidden by the
    kernel, AppArmor or Docker's seccomp profile) and the fix, and mentions the
    opt-out (``--no-sandbox``).
    """
    missing = [p for p in (cfg.bwrap, "prlimit") + (("setpriv",) if os.geteuid() == 0 else ()) if shutil.which(p) is None]
    if missing:
        raise SandboxUnavailable(
            f"the kernel sandbox cannot start: {', '.join(missing)} not found. Fix: install bubblewrap and util-linux "
            "(`sudo apt-get install bubblewrap util-linux`, or `make system-deps`) or set c.Sandbox.bwrap to its path. "
            "Grading without it (--no-sandbox) lets student code act as the grader.")
    jail = Jail(cfg)
    try:
        proc = subprocess.run(jail.command(["true"]), capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise SandboxUnavailable(
                f"the kernel sandbox cannot start: {_diagnose(proc.stderr)} "
                f"(bwrap said: {proc.stderr.strip()[:200] or 'nothing'}). Grading without it (--no-sandbox) "
                "lets student code act as the grader.")
    finally:
        jail.close()

