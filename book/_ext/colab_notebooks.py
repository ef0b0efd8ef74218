"""Committed ``.ipynb`` copies of the MyST chapters, for the "Colab" launch button.

The chapters are MyST Markdown notebooks (``book/NN_topic.md``), and Colab can
open only ``.ipynb`` files from GitHub. sphinx-book-theme builds its Colab link
from the page's source path, but switches the suffix to ``.ipynb`` when a file
of that name exists next to the source (``header_buttons/launch.py``). So each
chapter gets a generated twin ``book/NN_topic.ipynb``, committed, that Colab
opens at ``<repo>/blob/<branch>/book/NN_topic.ipynb``. (The "download .ipynb"
button needs nothing from here: the theme copies the executed notebook from
``jupyter_execute/`` into ``_sources/`` for every Markdown notebook.)

One repair for the "download .ipynb" button, too: myst-nb 1.4 writes
``jupyter_execute/<page>.ipynb`` from the notebook *before* jupyter-cache's
outputs are merged into it when a page is served from the cache (it merges
into a copy held by its client), so after any cached rebuild the download
had no outputs. :func:`restore_cached_outputs` merges them back in before
the HTML pages (and the theme's copy into ``_sources/``) are written.

The twin is written for a reader outside Sphinx: ``literalinclude`` directives
become the included source code, roles such as ``{cite}`` and ``{eq}`` become
plain text, and labels are dropped. It has no outputs (a reader runs it; the
first cell installs the course package) and deterministic cell ids, so it
changes only when its chapter does.

The book build rewrites stale twins (``builder-inited``), and
``tests/test_book_config.py`` fails when a twin is out of date. By hand::

    .venv/bin/python book/_ext/colab_notebooks.py --write   # regenerate
    .venv/bin/python book/_ext/colab_notebooks.py --check   # exit 1 if any is stale
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
import yaml

from regnorm_lab.booktools import fill_repository_url, repository

__all__ = [
    "chapter_sources",
    "is_myst_notebook",
    "mirror_path",
    "pyobject_source",
    "to_colab_markdown",
    "to_colab_notebook",
    "render_mirror",
    "stale_mirrors",
    "write_mirrors",
    "restore_cached_outputs",
    "main",
    "setup",
]

BOOK_DIR = "book"
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
# A fenced directive: ``` or ::: (3 or more), {name} argument, body, the same fence closing it.
_DIRECTIVE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{literalinclude\}[ \t]*(?P<arg>[^\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
# Practice problems (sphinx-exercise): {exercise} and {solution} become a bold heading and a collapsed
# <details> block, which Colab renders; their option lines (:label:, :class:) are dropped.
_EXERCISE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{(?P<kind>exercise|solution)\}[ \t]*(?P<arg>[^\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
_ROLE = re.compile(r"\{(?P<role>[a-zA-Z][\w:+-]*)\}`(?P<content>[^`]*)`")
_LABEL_LINE = re.compile(r"^\([\w.:-]+\)=[ \t]*\n", re.MULTILINE)
_EQ_LABEL = re.compile(r"(\$\$)[ \t]*\([\w.:-]+\)[ \t]*$", re.MULTILINE)


def is_myst_notebook(path: Path) -> bool:
    """True when ``path`` is a MyST Markdown notebook (front matter with a ``kernelspec``)."""
    match = _FRONT_MATTER.match(Path(path).read_text(encoding="utf-8"))
    if not match:
        return False
    meta = yaml.safe_load(match.group(1)) or {}
    return isinstance(meta, dict) and "kernelspec" in meta


def chapter_sources(root: Path) -> list[Path]:
    """Every MyST notebook directly in ``<root>/book``, sorted by name.

    Shape:
        A list of paths ``<root>/book/*.md``.
    """
    return sorted(p for p in (Path(root) / BOOK_DIR).glob("*.md") if is_myst_notebook(p))


def mirror_path(md_path: Path) -> Path:
    """The Colab twin of a chapter: the same name with ``.ipynb``."""
    return Path(md_path).with_suffix(".ipynb")


def pyobject_source(py_file: Path, qualname: str) -> str:
    """The source of a function or class (``Class.method`` allowed), decorators included.

    This is what Sphinx's ``literalinclude`` with ``:pyobject:`` shows.

    Raises:
        ValueError: if ``qualname`` is not defined in ``py_file``.
    """
    text = Path(py_file).read_text(encoding="utf-8")
    nodes: list[ast.stmt] = ast.parse(text).body
    found: ast.AST | None = None
    for part in qualname.split("."):
        found = next(
            (
                n
                for n in nodes
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part
            ),
            None,
        )
        if found is None:
            raise ValueError(f"qualname {qualname!r} is not defined in {py_file}")
        nodes = getattr(found, "body", [])
    assert found is not None
    lines = text.splitlines()
    first = min([found.lineno] + [d.lineno for d in getattr(found, "decorator_list", [])])
    body = lines[first - 1 : found.end_lineno]
    indent = min(len(line) - len(line.lstrip()) for line in body if line.strip())
    return "\n".join(line[indent:] for line in body)


def _expand_literalinclude(match: re.Match, md_dir: Path) -> str:
    target = (md_dir / match.group("arg").strip()).resolve()
    options = dict(re.findall(r"^:(\w[\w-]*):[ \t]*(.*)$", match.group("body"), re.MULTILINE))
    if "pyobject" in options:
        code = pyobject_source(target, options["pyobject"].strip())
    else:
        code = target.read_text(encoding="utf-8").rstrip("\n")
    language = options.get("language", "python").strip()
    try:
        shown = target.relative_to(md_dir.parent.resolve()).as_posix()
    except ValueError:
        shown = target.name
    caption = f"`{shown}`" + (f", `{options['pyobject'].strip()}`" if "pyobject" in options else "")
    return f"From {caption}:\n\n```{language}\n{code}\n```"


def _plain_exercise(match: re.Match) -> str:
    body = re.sub(r"^:[\w-]+:[^\n]*\n", "", match.group("body"), flags=re.MULTILINE).strip("\n")
    if match.group("kind") == "solution":
        return f"<details><summary><b>Solution</b> (click to open)</summary>\n\n{body}\n\n</details>"
    title = match.group("arg").strip()
    return f"**Exercise{': ' + title if title else ''}**\n\n{body}"


def _plain_role(match: re.Match) -> str:
    role, content = match.group("role"), match.group("content")
    explicit = re.fullmatch(r"(?P<text>.*?)\s*<(?P<target>[^<>]+)>", content, re.DOTALL)
    if role.startswith("cite"):
        return "[" + ", ".join(k.strip() for k in content.split(",")) + "]"
    if role in {"eq", "numref"} and not explicit:
        return f"({content})"
    if explicit:
        return explicit.group("text")
    if role == "math":
        return f"${content}$"
    if role.startswith("glue"):  # a number the book fills in; the twin's cells print it as "[name] = value"
        return f"**[{content.split(':', 1)[0]}]**"
    return content


def to_colab_markdown(text: str, md_dir: Path) -> str:
    """Turn one MyST Markdown cell into Markdown that Colab renders.

    ``literalinclude`` becomes the included code; a practice problem's ``exercise``
    becomes a bold heading and its ``solution`` a collapsed ``<details>`` block; roles become their text
    (``{cite}`a,b``` -> ``[a, b]``, ``{eq}`x``` -> ``(x)``, ``{glue:text}`name:fmt``` -> ``**[name]**``,
    which :func:`regnorm_lab.booktools.glue` prints as ``[name] = value`` when the cells run); target labels and
    equation labels are dropped. Everything else is left as it is.
    """
    text = _DIRECTIVE.sub(lambda m: _expand_literalinclude(m, md_dir), text)
    text = _EXERCISE.sub(_plain_exercise, text)
    text = _ROLE.sub(_plain_role, text)
    text = _LABEL_LINE.sub("", text)
    return _EQ_LABEL.sub(r"\1", text)


def to_colab_notebook(md_path: Path, repo_url: str = "", branch: str = "main") -> nbformat.NotebookNode:
    """Convert a MyST chapter into its Colab notebook (no outputs, deterministic ids).

    ``repo_url`` (``repository.url`` of ``_config.yml``) replaces ``{{ repository_url }}``
    in the chapter, so the twin's install cell and links point at the configured repository.
    """
    from myst_nb.core.read import read_myst_markdown_notebook

    md_path = Path(md_path)
    text = md_path.read_text(encoding="utf-8")
    if repo_url:  # the chapters' install cells write the address as {{ repository_url }}
        text = fill_repository_url(text, repo_url, branch)
    nb = read_myst_markdown_notebook(text, path=md_path)
    rel = f"{BOOK_DIR}/{md_path.name}"
    note = nbformat.v4.new_markdown_cell(
        f"*Generated from [`{rel}`]({repo_url.rstrip('/')}/blob/{branch}/{rel}) by `book/_ext/colab_notebooks.py`: "
        "edit the chapter, not this notebook. Run the first cell to install the course package. "
        "A number of the text written **[name]** is measured by the cells: run them and it is printed as `[name] = value`.*"
        if repo_url
        else f"*Generated from `{rel}` by `book/_ext/colab_notebooks.py`: edit the chapter, not this notebook.*"
    )
    cells = [note]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = to_colab_markdown(cell.source, md_path.parent)
        cells.append(cell)
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i:03d}"  # stable ids: a twin changes only when its chapter does
        cell.metadata.pop("source_map", None)
    nb.cells = cells
    nb.metadata = {
        "kernelspec": nb.metadata.get(
            "kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"}
        ),
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return nb


def _repository(root: Path) -> tuple[str, str]:
    """``(url, branch)`` from the ``repository`` section of ``<root>/_config.yml`` (the one place it is written)."""
    return tuple(repository(root))  # type: ignore[return-value]


def render_mirror(md_path: Path, root: Path) -> str:
    """The exact text of ``mirror_path(md_path)`` for the current chapter source."""
    return nbformat.writes(to_colab_notebook(md_path, *_repository(root))) + "\n"


def stale_mirrors(root: Path) -> list[Path]:
    """Chapters whose committed twin is missing or differs from a fresh conversion."""
    stale = []
    for md in chapter_sources(root):
        twin = mirror_path(md)
        if not twin.is_file() or twin.read_text(encoding="utf-8") != render_mirror(md, root):
            stale.append(md)
    return stale


def write_mirrors(root: Path) -> list[Path]:
    """Rewrite every stale twin (atomically: several builds may run at once). Returns those written."""
    written = []
    for md in stale_mirrors(root):
        twin = mirror_path(md)
        fd, tmp = tempfile.mkstemp(dir=twin.parent, prefix=f".{twin.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(render_mirror(md, root))
        os.replace(tmp, twin)
        written.append(twin)
    return written


def restore_cached_outputs(executed_dir: Path, cache_path: Path) -> list[Path]:
    """Merge cached outputs into executed notebooks that were written without any.

    Args:
        executed_dir: myst-nb's ``jupyter_execute`` folder.
        cache_path: the jupyter-cache folder the build used.

    Returns:
        The notebooks rewritten (those with code cells, no outputs at all, and a
        matching cache record; a notebook with any output is left alone).

    Shape:
        A list of paths below ``executed_dir``.
    """
    from jupyter_cache import get_cache

    if not Path(cache_path).is_dir():
        return []
    cache = get_cache(str(cache_path))
    rewritten = []
    for path in sorted(Path(executed_dir).rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        if not code or any(c.get("outputs") for c in code):
            continue
        try:
            _, merged = cache.merge_match_into_notebook(nb)
        except KeyError:  # no cache record for this code: nothing to restore
            continue
        if not any(c.get("outputs") for c in merged.cells if c.cell_type == "code"):
            continue
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(nbformat.writes(merged))
        os.replace(tmp, path)
        rewritten.append(path)
    return rewritten


def _on_env_updated(app, env) -> list[str]:
    config = getattr(env, "mystnb_config", None)
    if config is None or config.execution_mode != "cache" or app.builder.format != "html":
        return []
    executed_dir = Path(app.outdir).parent / "jupyter_execute"
    restore_cached_outputs(executed_dir, Path(config.execution_cache_path))
    return []


def _on_builder_inited(app) -> None:
    from sphinx.util import logging

    root = Path(app.confdir)
    if not (root / BOOK_DIR).is_dir():
        return
    for twin in write_mirrors(root):
        logging.getLogger(__name__).info("colab_notebooks: wrote %s (commit it)", twin.relative_to(root))


def setup(app) -> dict:
    """Sphinx entry point: refresh the Colab twins; give cached pages' downloads their outputs."""
    app.connect("builder-inited", _on_builder_inited)
    app.connect("env-updated", _on_env_updated)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--write`` regenerates stale twins, ``--check`` lists them and exits 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.write:
        for twin in write_mirrors(args.root):
            print(f"wrote {twin.relative_to(args.root)}")
        return 0
    stale = stale_mirrors(args.root)
    for md in stale:
        print(f"stale: {mirror_path(md).relative_to(args.root)} (run book/_ext/colab_notebooks.py --write)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
