"""booktools.glue: myst-nb's glue in the book, a harmless stand-in where myst-nb is missing (Colab)."""

from __future__ import annotations

import builtins
import sys

from regnorm_lab import booktools


def test_glue_delegates_to_myst_nb_when_present(monkeypatch):
    calls = []
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: calls.append((name, value, display)))
    booktools.glue("answer", 42, display=False)
    assert calls == [("answer", 42, False)]


def test_glue_works_without_myst_nb(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_myst(name, *args, **kwargs):
        if name == "myst_nb" or name.startswith("myst_nb."):
            raise ImportError("no myst_nb here")
        return real_import(name, *args, **kwargs)

    shown = []
    import IPython.display

    monkeypatch.setattr(builtins, "__import__", no_myst)
    monkeypatch.delitem(sys.modules, "myst_nb", raising=False)
    monkeypatch.setattr(IPython.display, "display", lambda v: shown.append(v))
    booktools.glue("answer", 42)
    booktools.glue("hidden", "0.71 [0.52, 0.90]", display=False)
    assert shown == [42]
    # the Colab twin writes these numbers as **[name]** in its text: each is printed under that name
    assert capsys.readouterr().out.splitlines() == ["[answer]", "[hidden] = 0.71 [0.52, 0.90]"]
