"""The kernel sandbox itself: what a sandboxed process can and cannot do, the start check, the opt-out.

The attacks through the real grading commands are in ``test_sandbox_attacks.py``.
"""

from __future__ import annotations

import csv
import os
import pathlib
import stat
import subprocess
import sys

import nbformat
import pytest
from traitlets.config import Config

from regnorm_lab.course import cli, sandbox
from regnorm_lab.course.sandbox import Jail, Sandbox, SandboxUnavailable

from . import harness as H

A = "ps01_penalties"


def _run_in_jail(code: str, **settings: object) -> subprocess.CompletedProcess:
    jail = Jail(Sandbox(**settings))
    try:
        return subprocess.run(jail.command([sys.executable, "-c", code]), capture_output=True, text=True, timeout=120)
    finally:
        jail.close()


def test_a_sandboxed_process_sees_no_course_no_network_no_grader_secret() -> None:
    os.environ["REGNORM_TEST_SECRET"] = "s3cr3t"
    try:
        proc = _run_in_jail(f"""
import os, socket, json
out = {{"uid": os.getuid(), "env": "REGNORM_TEST_SECRET" in os.environ, "course": os.path.exists({str(H.EXERCISES)!r}),
       "repo_readme": os.path.exists({str(H.REPO / 'README.md')!r}), "pids": sorted(int(p) for p in os.listdir('/proc') if p.isdigit())}}
try:
    socket.create_connection(("127.0.0.1", 22), timeout=2); out["net"] = "connected"
except OSError as e:
    out["net"] = type(e).__name__
try:
    open("/usr/pwned", "w"); out["usr"] = "written"
except OSError as e:
    out["usr"] = type(e).__name__
open("mine.txt", "w").write("ok")  # its own folder is writable
print(json.dumps(out))
""")
    finally:
        del os.environ["REGNORM_TEST_SECRET"]
    assert proc.returncode == 0, proc.stderr
    import json

    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["uid"] != 0 and out["env"] is False and out["course"] is False and out["repo_readme"] is False
    assert out["net"] in ("ConnectionRefusedError", "OSError") and out["usr"] in ("OSError", "PermissionError")
    assert max(out["pids"]) < 10  # its own PID namespace: the grader and other kernels are invisible


def test_limits_stop_memory_and_processes() -> None:
    proc = _run_in_jail("""
import os, numpy as np
try:
    np.ones(3 * 2**30 // 8); print("allocated")
except MemoryError:
    print("MemoryError")
n = 0
try:
    for _ in range(500):
        if os.fork() == 0:
            import time; time.sleep(30); os._exit(0)
        n += 1
except OSError as e:
    print("fork stopped", n)
""", memory_mb=1024, processes=40)
    assert "MemoryError" in proc.stdout and "fork stopped" in proc.stdout, proc.stdout + proc.stderr
    assert int(proc.stdout.split("fork stopped")[1].split()[0]) < 40


def test_hidden_reference_leaves_only_the_probe_importable() -> None:
    code = f"""
import regnorm_lab, importlib, os
for m in ("regnorm_lab.penalties", "regnorm_lab.timing", "regnorm_lab.course.verdicts", "regnorm_lab.dropout"):
    try:
        importlib.import_module(m); print("IMPORTED", m)
    except ImportError:
        print("hidden", m)
print("FILE", regnorm_lab.__file__)
print("LISTING", sorted(os.listdir(os.path.dirname(regnorm_lab.__file__))))
print("BY PATH", os.path.exists({str(H.REPO / 'regnorm_lab' / 'penalties.py')!r}))
"""
    proc = _run_in_jail(code)  # the default hides the reference
    assert "IMPORTED" not in proc.stdout and proc.stdout.count("hidden") == 4, proc.stdout + proc.stderr
    assert "/stub/regnorm_lab/" in proc.stdout
    assert "LISTING ['__init__.py', 'course']" in proc.stdout and "BY PATH False" in proc.stdout, proc.stdout
    assert Sandbox().hide_reference is True
    # the opt-out shows the package (what a notebook whose setup imports other course code would get)
    proc = _run_in_jail("import regnorm_lab.penalties, regnorm_lab.course.verdicts; print('ok')", hide_reference=False)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_a_package_installed_inside_the_venv_is_covered_by_an_empty_folder(monkeypatch) -> None:
    # a regular (not editable) install puts regnorm_lab in site-packages, inside the bound venv:
    # stand-in for it, an installed package's real folder, which must show up empty
    import nbformat

    pkg = os.path.dirname(os.path.realpath(nbformat.__file__))
    assert any(pkg.startswith(os.path.realpath(p) + os.sep) for p in (sys.prefix, sys.base_prefix))
    monkeypatch.setattr(sandbox, "_package_dir", lambda: pkg)
    proc = _run_in_jail(f"import os\nprint(sorted(os.listdir({pkg!r})), os.path.exists({pkg + '/__init__.py'!r}))")
    assert proc.stdout.strip() == "[] False", proc.stdout + proc.stderr
    proc = _run_in_jail(f"import os\nprint(os.path.exists({pkg + '/__init__.py'!r}))", hide_reference=False)
    assert proc.stdout.strip() == "True", proc.stdout + proc.stderr


# A student who delegates to the reference in every way we know of: each attempt fails inside
# the grading kernel (ImportError, file not found), so the three functions earn nothing.
_PKG_FILE = str(H.REPO / "regnorm_lab" / "penalties.py")
DELEGATING = {
    "l1_penalty": """
try:
    import regnorm_lab.penalties as _ref
    print("DELEGATED import")
except ImportError as _e:
    print("BLOCKED import:", type(_e).__name__)
    _ref = None
def l1_penalty(w, lam):
    return _ref.l1_penalty(w, lam)
""",
    "l2_penalty": """
try:
    from regnorm_lab import dropout
    print("DELEGATED from-import")
except ImportError as _e:
    print("BLOCKED from-import:", type(_e).__name__)
def l2_penalty(w, lam):
    from regnorm_lab.penalties import l2_penalty as ref
    return ref(w, lam)
""",
    "elastic_net_penalty": f"""
import glob, importlib.util, os, sys
_found = [p for p in [{_PKG_FILE!r}] + [f for d in sys.path if d for f in glob.glob(os.path.join(d, "regnorm_lab", "*.py"))]
          if os.path.basename(p) != "__init__.py" and os.path.exists(p)]
print("FOUND BY PATH:", _found) if _found else print("BLOCKED by path: not found")
def elastic_net_penalty(w, l1, l2):
    spec = importlib.util.spec_from_file_location("_ref", {_PKG_FILE!r})
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.elastic_net_penalty(w, l1, l2)
""",
}


@pytest.mark.slow
def test_a_grading_kernel_cannot_reach_the_reference(tmp_path: pathlib.Path) -> None:
    course = H.copy_course(tmp_path, [A])
    with open(course / "nbgrader_config.py", "a") as f:
        f.write("\nc.Sandbox.hide_reference_for_probe = False\n")  # only the default of hide_reference at work
    H.release(course, A)
    solution = H.solution_answers(H.EXERCISES, A)
    H.plant(course, "solution", A, solution)
    H.plant(course, "delegator", A, {**solution, **DELEGATING})
    statuses = {s.student_id: s for s in H.autograde(course, A, force=True, timeout=30)}
    assert statuses["delegator"].status == "graded"
    nb = nbformat.read(str(course / "autograded" / "delegator" / A / f"{A}.ipynb"), as_version=4)
    out = "\n".join(str(o.get("text", "")) for c in nb.cells for o in c.get("outputs", []))  # what the kernel printed
    assert "BLOCKED import: ModuleNotFoundError" in out and "BLOCKED from-import: ImportError" in out, out[-2000:]
    assert "BLOCKED by path: not found" in out
    assert "DELEGATED" not in out and "FOUND BY PATH" not in out
    owner = H.test_cells_of(H.EXERCISES, A)
    cells = H.cell_scores(course, A, "delegator")
    for cell, fn in owner.items():
        s, m = cells[cell]
        assert (s == 0) if fn in DELEGATING else (s == m), f"{cell} ({fn}) scored {s}/{m}"
    assert H.total(H.cell_scores(course, A, "solution")) == (25.0, 25.0)


def test_the_start_check_names_a_missing_bwrap_and_the_fix() -> None:
    with pytest.raises(SandboxUnavailable, match=r"not found.*apt-get install bubblewrap.*--no-sandbox"):
        sandbox.check(Sandbox(bwrap="/nonexistent/bwrap"))


def test_the_start_check_explains_a_namespace_failure(tmp_path: pathlib.Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(SandboxUnavailable) as err:
        sandbox.check(Sandbox(bwrap=str(fake)))
    msg = str(err.value)
    assert "No permissions to create new namespace" in msg and "--no-sandbox" in msg
    assert "Fix:" in msg  # a cause and a fix (which one depends on the machine: AppArmor, sysctl, Docker)


def test_the_grade_command_stops_when_the_sandbox_cannot_start(tmp_path: pathlib.Path, capsys) -> None:
    course = H.copy_course(tmp_path, [A])
    with open(course / "nbgrader_config.py", "a") as f:
        f.write("\nc.Sandbox.bwrap = '/nonexistent/bwrap'\n")
    H.release(course, A)
    H.plant(course, "solution", A, H.solution_answers(H.EXERCISES, A))
    assert cli.main(["--course", str(course), "grade", A, "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "sandbox cannot start" in err and "bubblewrap" in err
    assert not (course / "autograded").exists()  # nothing was graded


@pytest.mark.slow
def test_the_opt_out_warns_and_is_recorded_in_status_and_export(tmp_path: pathlib.Path, capsys) -> None:
    course = H.copy_course(tmp_path, [A])
    H.release(course, A)
    H.plant(course, "solution", A, H.solution_answers(H.EXERCISES, A))
    assert cli.main(["--course", str(course), "grade", A, "--workers", "1", "--no-sandbox", "--no-feedback"]) == 0
    assert "WITHOUT the kernel sandbox" in capsys.readouterr().err
    with open(course / "reports" / f"{A}_status.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert row["status"] == "graded" and row["score"] == "25" and "UNSANDBOXED" in row["detail"]
    with open(course / "grades.csv", newline="") as f:
        assert "UNSANDBOXED" in next(r for r in csv.DictReader(f) if r["student_id"] == "solution")["detail"]


def test_settings_come_from_the_course_config() -> None:
    cfg = Config()
    cfg.Sandbox.memory_mb = 512
    cfg.Sandbox.enabled = False
    s = Sandbox(config=cfg)
    assert s.memory_mb == 512 and s.enabled is False
    jail = Jail(Sandbox(config=cfg))
    cmd = jail.command(["true"])
    jail.close()
    assert f"--as={512 * 1024 * 1024}" in cmd and "--die-with-parent" in cmd and "--unshare-net" in cmd


@pytest.mark.slow
def test_validate_runs_the_notebook_in_the_sandbox_when_asked(tmp_path: pathlib.Path) -> None:
    from regnorm_lab.course import pipeline

    course = H.copy_course(tmp_path, [A])
    H.release(course, A)
    solution = H.solution_answers(H.EXERCISES, A)
    # l1_penalty is defined only where the course folder is invisible: inside the sandbox
    hidden_def = f"import os\nif not os.path.exists({str(course)!r}):\n" + "\n".join("    " + ln for ln in solution["l1_penalty"].splitlines())
    path = H.plant(course, "student", A, {**solution, "l1_penalty": hidden_def})
    ok, report = pipeline.validate(path, course, sandbox=True)
    assert ok, report
    ok, _ = pipeline.validate(path, course, sandbox=False)
    assert not ok  # the same notebook outside the sandbox sees the course and defines nothing


def test_a_notebook_on_the_probe_gets_the_stub_package() -> None:
    from nbformat.v4 import new_code_cell, new_notebook

    from regnorm_lab.course.prewarm import PrewarmedExecute
    from regnorm_lab.course.sandbox import probe_only

    assert probe_only(("numpy", "regnorm_lab.course")) and probe_only(["regnorm_lab.course.probe"])
    assert not probe_only(("numpy", "regnorm_lab.timing")) and not probe_only(("numpy",))
    assert not probe_only(("regnorm_lab.course", "regnorm_lab.timing"))

    def key(setup: str) -> dict:
        cell = new_code_cell(setup)
        cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True, "grade_id": "setup", "schema_version": 3}
        return dict(PrewarmedExecute().spare_key(new_notebook(cells=[cell]))[4])

    assert key("import numpy as np\nfrom regnorm_lab.course import probe")["hide_reference"] is True
    assert key("import numpy as np")["hide_reference"] is True  # the default: nothing of ours is needed
    # the exception: a setup that imports other course modules (none does since ps07 moved to the probe) keeps them
    assert key("import numpy as np\nimport regnorm_lab.timing as gt")["hide_reference"] is False
    assert key("from regnorm_lab.course import probe\nfrom regnorm_lab.timing import gpu_timing")["hide_reference"] is False
    # an instructor who turns hide_reference off still hides it from a notebook on the probe, unless told not to
    from regnorm_lab.course.sandbox import needs_package, reference_hidden

    assert needs_package(("regnorm_lab.timing",)) and not needs_package(("numpy", "regnorm_lab.course.probe"))
    probe_setup = ("numpy", "regnorm_lab.course")
    assert reference_hidden(Sandbox(hide_reference=False), probe_setup) is True
    assert reference_hidden(Sandbox(hide_reference=False), ("numpy",)) is False
    assert reference_hidden(Sandbox(hide_reference=False, hide_reference_for_probe=False), probe_setup) is False
    assert reference_hidden(Sandbox(hide_reference_for_probe=False), probe_setup) is True


@pytest.mark.skipif(os.geteuid() != 0, reason="per-kernel host uids are used when grading as root")
def test_closing_a_jail_kills_what_still_runs_as_its_uid() -> None:
    jail = Jail(Sandbox())
    stray = subprocess.Popen(["setpriv", f"--reuid={jail.uid}", f"--regid={jail.uid}", "--clear-groups", "sleep", "300"])
    try:
        import time

        time.sleep(0.3)
        jail.close()
        assert stray.wait(timeout=10) == -9 and not jail.root.exists()
    finally:
        if stray.poll() is None:
            stray.kill()
