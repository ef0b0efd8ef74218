"""Tests for regnorm_lab.timing.cli: ``python -m regnorm_lab.timing`` prints the report and saves the figure.

CPU only; the CUDA branches are exercised by monkeypatching.
"""

from __future__ import annotations

import runpy
import sys

import matplotlib

matplotlib.use("Agg")  # headless: the figure goes to a file only

import pytest  # noqa: E402

import regnorm_lab.timing as gt  # noqa: E402
from regnorm_lab.timing import cli  # noqa: E402


def test_main_prints_a_report(capsys):
    assert gt.main(["--device", "cpu", "--shapes", "8x16", "--dtypes", "float32,bfloat16",
                    "--min-run-time", "0.003", "--hot"]) == 0
    out = capsys.readouterr().out
    assert "device_name" in out and "ratios:" in out
    assert "layer_norm" in out and "rms_norm" in out
    assert "bfloat16" not in out.split("ratios:")[1]


def test_main_saves_the_figure(tmp_path, capsys):
    png = tmp_path / "bw.png"
    assert gt.main(["--device", "cpu", "--shapes", "8x16", "--dtypes", "float32", "--min-run-time", "0.003",
                    "--hot", "--png", str(png)]) == 0
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(png) in capsys.readouterr().out


def test_parse_shape():
    assert cli.parse_shape("4096x1024") == (4096, 1024)
    assert cli.parse_shape("2X3x4") == (2, 3, 4)
    with pytest.raises(ValueError, match="4096x1024"):
        cli.parse_shape("4096 by 1024")


def test_python_dash_m_runs_the_cli(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["python -m regnorm_lab.timing", "--device", "cpu", "--shapes", "8x16",
                                      "--dtypes", "float32", "--min-run-time", "0.003", "--hot"])
    with pytest.raises(SystemExit) as stop:
        runpy.run_module("regnorm_lab.timing", run_name="__main__")
    assert stop.value.code == 0
    assert "ratios:" in capsys.readouterr().out
