"""The installed package is the repository's package: a wheel built from the checkout holds every
file of ``regnorm_lab`` the code can read (modules and data), as a ``pip install git+...`` on Colab gets it."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import zipfile

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_the_wheel_holds_every_module_and_data_file_of_the_package(tmp_path: pathlib.Path) -> None:
    # a copy of the tracked files only: a build in the checkout would leave build/ and *.egg-info behind
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path / "src"
    for rel in tracked:
        if rel.startswith("regnorm_lab/") or rel in ("pyproject.toml", "README.md"):
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes((REPO / rel).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("regnorm_lab-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    # READMEs of data folders are for readers of the repository, not read by any code
    wanted = {rel for rel in tracked if rel.startswith("regnorm_lab/") and not rel.endswith("README.md")}
    assert wanted, "no package files found"
    missing = sorted(wanted - inside)
    assert not missing, f"files of the package missing from the wheel (add them to package-data): {missing}"
    assert any(n.startswith("regnorm_lab/studies/recorded/") and n.endswith(".json") for n in inside)
