"""The book's configuration, its chapters' shared conventions and its local Sphinx extensions.

Fast checks that need no build: _config.yml/_toc.yml as Jupyter Book 1 reads
them, the install cell every chapter starts with, every ``literalinclude``
target, every citation key, the package-keyed execution cache, and the Colab
``.ipynb`` twins of the chapters.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml
from myst_nb.core.read import read_myst_markdown_notebook
from pybtex.database import parse_file

REPO_ROOT = Path(__file__).resolve().parents[1]
EXT_DIR = REPO_ROOT / "book" / "_ext"
sys.path.insert(0, str(EXT_DIR))

import colab_notebooks  # noqa: E402
import offline_mathjax  # noqa: E402
import project_paths  # noqa: E402
import quiet_console  # noqa: E402
import regnorm_cache  # noqa: E402

from regnorm_lab.booktools import REPOSITORY_URL_TOKEN  # noqa: E402

CONFIG = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())

# The layout the whole project agreed on (one topic, one name everywhere), in reading order.
EXPECTED_TOC = [
    "book/00_introduction",
    "book/01_penalties",
    "book/02_feature_scaling",
    "book/03_key_differences",
    "book/04_why_regularization",
    "book/05_normalization_benefits",
    "book/06_dropout",
    "book/07_batch_norm",
    "book/08_layer_instance_norm",
    "book/09_regularization_strength",
    "book/10_normalization_training",
    "book/11_combining",
    "book/12_infographic",
    "book/13_claims_checked",
    "book/14_gpu_timing",
    "book/15_bayesian_view",
    "book/16_other_regularizers",
    "book/17_dropout_in_depth",
    "book/18_batch_norm_in_practice",
    "book/19_transformers",
    "book/20_alternatives_to_normalization",
    "book/for_students",
    "book/for_instructors",
    "book/references",
]

REQUIRED_BIB_KEYS = {
    "ioffe2015batch", "santurkar2018how", "li2019understanding", "ba2016layer", "ulyanov2016instance",
    "huang2017arbitrary", "wu2018group", "zhang2019root", "srivastava2014dropout", "loshchilov2019decoupled",
    "tibshirani1996regression", "hoerl1970ridge", "zou2005regularization", "krogh1992simple",
    "lecun1998efficient", "kingma2015adam", "xiong2020layer", "dao2022flashattention",
}  # fmt: skip


def toc_files() -> list[str]:
    """Every file entry of _toc.yml in order, the root first."""
    files = [TOC["root"]]
    for part in TOC.get("parts", []):
        for chapter in part.get("chapters", []):
            files.append(chapter["file"])
            files.extend(section["file"] for section in chapter.get("sections", []))
    return files


def toc_sources() -> list[Path]:
    return [REPO_ROOT / f"{entry}.md" for entry in toc_files()]


def install_cell_source(repo_url: str) -> str:
    """The first cell every chapter starts with, written out independently of the chapters."""
    return (
        "# On Colab or a JupyterHub: install the course package if it is missing "
        "(does nothing when it is importable).\n"
        "import importlib.util, subprocess, sys\n"
        'if importlib.util.find_spec("regnorm_lab") is None:\n'
        '    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", '
        f'"regnorm-lab @ git+{repo_url}"])'
    )


def notebook_pages() -> list[Path]:
    """Toc pages that execute code: numbered chapters always, other pages when they hold a code cell."""
    pages = []
    for path in toc_sources():
        if re.match(r"\d\d_", path.name) or "{code-cell}" in path.read_text():
            pages.append(path)
    return pages


# --------------------------------------------------------------------------- _config.yml / _toc.yml


def test_toc_lists_every_book_file_in_layout_order():
    assert TOC["format"] == "jb-book"
    assert toc_files() == EXPECTED_TOC


def test_every_toc_entry_exists():
    missing = [str(p.relative_to(REPO_ROOT)) for p in toc_sources() if not p.is_file()]
    assert missing == []


def test_article_and_performance_parts_are_numbered():
    numbered = {part["caption"]: part.get("numbered", False) for part in TOC["parts"]}
    assert numbered["The article, section by section"] is True
    assert numbered["Performance"] is True


def test_jupyter_book_translates_config_as_intended():
    """Run Jupyter Book's own YAML -> Sphinx translation and check the values Sphinx will get."""
    from jupyter_book.config import get_final_config

    sphinx_cfg, _ = get_final_config(
        user_yaml=REPO_ROOT / "_config.yml",
        cli_config={"latex_individualpages": False},
        sourcedir=REPO_ROOT,
        validate=True,
        raise_on_invalid=True,
    )
    assert sphinx_cfg["html_title"] == "regnorm-lab: regularization vs normalization, run"
    assert sphinx_cfg["external_toc_exclude_missing"] is True
    for pattern in [".venv", ".pytest_cache", ".hypothesis", "_build", "exercises", "tests", "regnorm_lab",
                    "README.md", "**/.ipynb_checkpoints", "**/.*", "book/*.ipynb"]:  # fmt: skip
        assert pattern in sphinx_cfg["exclude_patterns"], pattern
    assert sphinx_cfg["nb_execution_mode"] == "cache"
    assert sphinx_cfg["nb_execution_raise_on_error"] is True
    assert sphinx_cfg["nb_execution_allow_errors"] is False
    assert 60 <= sphinx_cfg["nb_execution_timeout"] <= 300
    assert {"dollarmath", "amsmath", "colon_fence", "deflist", "substitution"} <= set(
        sphinx_cfg["myst_enable_extensions"]
    )
    assert sphinx_cfg["bibtex_bibfiles"] == ["book/references.bib"]
    assert "sphinxcontrib.bibtex" in sphinx_cfg["extensions"]
    for ext in ("regnorm_cache", "colab_notebooks", "offline_mathjax", "quiet_console", "project_paths", "repository_url"):
        assert ext in sphinx_cfg["extensions"]
        assert (REPO_ROOT / CONFIG["sphinx"]["local_extensions"][ext] / f"{ext}.py").is_file()
    theme = sphinx_cfg["html_theme_options"]
    # the theme's repository and launch buttons read the one address of _config.yml
    assert theme["repository_url"] == CONFIG["repository"]["url"]
    assert theme["repository_url"].startswith("https://github.com/")
    assert theme["repository_branch"] == "main"
    # Page names already start with "book/": a non-empty path_to_docs would double it in Colab links.
    assert theme["path_to_docs"] == ""
    assert theme["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    # The cache path is chosen by book/_ext/regnorm_cache.py; a fixed one here would be its base only.
    assert not sphinx_cfg.get("nb_execution_cache_path")


# --------------------------------------------------------------------------- chapter conventions


@pytest.mark.parametrize("page", notebook_pages(), ids=lambda p: p.name)
def test_chapter_starts_with_the_install_cell(page: Path):
    nb = read_myst_markdown_notebook(page.read_text(), path=page)
    assert "kernelspec" in nb.metadata, f"{page.name} is not a MyST notebook (no kernelspec front matter)"
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells, f"{page.name} has no code cell"
    first = code_cells[0]
    # the address is not written in the chapter: the book build and the twins fill it in from _config.yml
    assert first.source.strip() == install_cell_source(REPOSITORY_URL_TOKEN)
    assert "remove-input" in first.metadata.get("tags", [])
    # and nothing executes before it
    assert nb.cells.index(first) <= 2


def test_install_url_matches_repository_url():
    urls = set()
    for page in notebook_pages():
        urls.update(re.findall(r"regnorm-lab @ git\+([^\"]+?)\"", page.read_text()))
    assert urls == {REPOSITORY_URL_TOKEN}
    for page in notebook_pages():
        twin = colab_notebooks.mirror_path(page).read_text()
        assert set(re.findall(r"regnorm-lab @ git\+([^\\\"]+?)\\\"", twin)) == {CONFIG["repository"]["url"]}, page.name
        assert REPOSITORY_URL_TOKEN not in twin, page.name


# --------------------------------------------------------------------------- one address


def test_the_repository_address_is_written_once_in_the_sources():
    """``git grep`` over the sources (generated notebooks excluded) finds the address only in _config.yml."""
    url = CONFIG["repository"]["url"]
    hits = subprocess.run(
        ["git", "grep", "-l", "-F", url, "--", ":!book/*.ipynb", ":!exercises/source/**"],
        cwd=REPO_ROOT, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    assert hits == ["_config.yml"]


def _forked_root(tmp_path: Path, url: str) -> Path:
    """A copy of the repository's config with another address (what a fork edits), chapters linked in."""
    config = (REPO_ROOT / "_config.yml").read_text()
    assert CONFIG["repository"]["url"] in config
    (tmp_path / "_config.yml").write_text(config.replace(CONFIG["repository"]["url"], url))
    (tmp_path / "book").symlink_to(REPO_ROOT / "book")
    (tmp_path / "regnorm_lab").symlink_to(REPO_ROOT / "regnorm_lab")
    return tmp_path


FORK = "https://github.com/someone-else/my-fork"


def test_a_forked_address_reaches_the_colab_twin(tmp_path: Path):
    root = _forked_root(tmp_path, FORK)
    page = REPO_ROOT / "book" / "07_batch_norm.md"
    twin = colab_notebooks.render_mirror(page, root)
    assert f"regnorm-lab @ git+{FORK}" in twin
    assert f"{FORK}/blob/main/book/07_batch_norm.md" in twin  # the "generated from" link
    assert CONFIG["repository"]["url"] not in twin and REPOSITORY_URL_TOKEN not in twin


def test_a_forked_address_reaches_the_book_pages(tmp_path: Path):
    import repository_url

    root = _forked_root(tmp_path, FORK)

    class App:  # what the extension reads from Sphinx: the source folder (the root in a whole-book build)
        srcdir = str(root)

    for name in ("11_combining.md", "for_students.md"):
        source = [(REPO_ROOT / "book" / name).read_text()]
        repository_url._on_source_read(App, name, source)
        assert FORK in source[0] and REPOSITORY_URL_TOKEN not in source[0], name
        assert CONFIG["repository"]["url"] not in source[0], name


def test_a_forked_address_reaches_the_exercise_notebooks(tmp_path: Path, monkeypatch):
    from regnorm_lab import booktools
    from regnorm_lab.course.authoring import build_notebook, load_spec

    root = _forked_root(tmp_path, FORK)
    monkeypatch.setattr(booktools, "PROJECT_ROOT", root)
    for assignment in ("ps01_penalties", "ps04_batch_norm", "ps07_gpu_timing"):
        nb = build_notebook(load_spec(REPO_ROOT / "exercises", assignment).CELLS)
        text = "\n".join(c.source for c in nb.cells)
        assert f"{FORK}/blob/main/book/" in text, assignment
        assert CONFIG["repository"]["url"] not in text, assignment


def test_repository_without_an_address_is_a_clear_error(tmp_path: Path):
    from regnorm_lab import booktools

    with pytest.raises(FileNotFoundError, match="root"):
        booktools.repository(tmp_path)
    (tmp_path / "_config.yml").write_text("title: x\n")
    with pytest.raises(ValueError, match="repository.url"):
        booktools.repository(tmp_path)


MAX_CELL_LINES = 25


@pytest.mark.parametrize("page", notebook_pages(), ids=lambda p: p.name)
def test_executed_code_cells_are_short(page: Path):
    """Short cells, one idea each (QuantEcon's lectures): no executed code cell past 25 lines.

    Every line counts (blank lines and comments too); a cell tagged ``skip-execution`` is not executed.
    """
    nb = read_myst_markdown_notebook(page.read_text(), path=page)
    long_cells = [
        f"code cell {n} ({len(cell.source.rstrip().splitlines())} lines): {cell.source.strip().splitlines()[0][:60]}"
        for n, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1)
        if "skip-execution" not in cell.metadata.get("tags", [])
        and len(cell.source.rstrip().splitlines()) > MAX_CELL_LINES
    ]
    assert long_cells == [], f"{page.name}: split these cells (at most {MAX_CELL_LINES} lines each)"


def test_cell_length_check_catches_a_long_cell(tmp_path: Path):
    page = tmp_path / "99_long.md"
    header = (REPO_ROOT / "book" / "00_introduction.md").read_text().split("---\n", 2)[1]
    body = "\n".join(f"x{i} = {i}" for i in range(MAX_CELL_LINES + 1))
    page.write_text(f"---\n{header}---\n\n# Long\n\n```{{code-cell}} ipython3\n{body}\n```\n")
    with pytest.raises(AssertionError, match="code cell 1 \\(26 lines\\)"):
        test_executed_code_cells_are_short(page)
    page.write_text(f"---\n{header}---\n\n# Short\n\n```{{code-cell}} ipython3\nx = 1\n```\n")
    test_executed_code_cells_are_short(page)


LITERALINCLUDE = re.compile(
    r"^(`{3,}|:{3,})\{literalinclude\}[ \t]*(?P<arg>\S+)[^\n]*\n(?P<body>.*?)^\1[ \t]*$", re.DOTALL | re.MULTILINE
)


def _all_literalincludes() -> list[tuple[Path, str, str | None]]:
    found = []
    for page in toc_sources():
        for m in LITERALINCLUDE.finditer(page.read_text()):
            opts = dict(re.findall(r"^:(\w[\w-]*):[ \t]*(.*)$", m.group("body"), re.MULTILINE))
            found.append((page, m.group("arg"), opts.get("pyobject")))
    return found


def _defined_names(tree: ast.Module) -> set[str]:
    names = set()

    def walk(nodes, prefix):
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(prefix + node.name)
                if isinstance(node, ast.ClassDef):
                    walk(node.body, prefix + node.name + ".")

    walk(tree.body, "")
    return names


def test_every_literalinclude_points_at_an_existing_regnorm_lab_object():
    problems = []
    for page, arg, pyobject in _all_literalincludes():
        target = (page.parent / arg).resolve()
        if not target.is_file():
            problems.append(f"{page.name}: {arg} does not exist")
            continue
        if not target.is_relative_to(REPO_ROOT / "regnorm_lab"):
            problems.append(f"{page.name}: {arg} is not in regnorm_lab/")
        if pyobject and pyobject not in _defined_names(ast.parse(target.read_text())):
            problems.append(f"{page.name}: {arg} has no {pyobject}")
    assert problems == []


TECHNIQUES = ["penalties", "dropout", "weight_decay", "feature_scaling", "batch_norm", "layer_instance_norm",
              "rms_norm", "combining"]  # fmt: skip
MAX_INCLUDE_LINES = 25


def test_included_technique_code_is_short():
    """The book shows each technique's maths core, not a whole checked function: no included block past 25 lines."""
    long_blocks = []
    for page, arg, pyobject in _all_literalincludes():
        target = (page.parent / arg).resolve()
        if target.parent == REPO_ROOT / "regnorm_lab" and target.stem in TECHNIQUES:
            assert pyobject, f"{page.name} includes the whole of {arg}: include the maths core with :pyobject:"
            n = len(colab_notebooks.pyobject_source(target, pyobject).splitlines())
            if n > MAX_INCLUDE_LINES:
                long_blocks.append(f"{page.name}: {target.name}:{pyobject} ({n} lines)")
    assert long_blocks == []


@pytest.mark.parametrize("module", TECHNIQUES)
def test_technique_module_opens_with_its_maths(module: str):
    """A newcomer sees a formula in code within the first screen: the first function starts by line 60, short."""
    path = REPO_ROOT / "regnorm_lab" / f"{module}.py"
    tree = ast.parse(path.read_text())
    first = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)))
    assert isinstance(first, ast.FunctionDef), f"{module}: opens with class {first.name}, not a function"
    assert first.lineno <= 60, f"{module}: the first function, {first.name}, starts at line {first.lineno}"
    assert first.end_lineno - first.lineno + 1 <= MAX_INCLUDE_LINES, f"{module}: {first.name} is long"


def test_literalinclude_checker_catches_a_missing_object(tmp_path: Path):
    """The parser above must see directives and a missing object, or the test above proves nothing."""
    text = "```{literalinclude} ../regnorm_lab/penalties.py\n:pyobject: no_such_function\n```\n"
    m = LITERALINCLUDE.search(text)
    assert m is not None and m.group("arg") == "../regnorm_lab/penalties.py"
    tree = ast.parse((REPO_ROOT / "regnorm_lab" / "penalties.py").read_text())
    assert "no_such_function" not in _defined_names(tree)
    assert "soft_threshold" in _defined_names(tree)


def test_bibliography_has_the_course_references_and_every_cited_key():
    bib = parse_file(str(REPO_ROOT / "book" / "references.bib"))
    keys = set(bib.entries)
    assert REQUIRED_BIB_KEYS <= keys
    cited = set()
    for page in toc_sources():
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", page.read_text()):
            cited.update(k.strip() for k in group.split(","))
    assert cited - keys == set()
    for key in REQUIRED_BIB_KEYS:
        fields = bib.entries[key].fields
        assert fields.get("title") and fields.get("year"), key


# --------------------------------------------------------------------------- package-keyed execution cache


def _make_package(root: Path) -> Path:
    pkg = root / "regnorm_lab"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import f\n")
    (pkg / "a.py").write_text("def f():\n    return 1\n")
    (pkg / "sub" / "b.py").write_text("X = 2\n")
    return pkg


def test_package_hash_is_stable_for_unchanged_sources(tmp_path: Path):
    pkg = _make_package(tmp_path)
    first = regnorm_cache.package_hash(pkg)
    # files that are not package sources do not matter
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "a.cpython-311.py").write_text("junk")
    (pkg / "notes.txt").write_text("not python")
    assert regnorm_cache.package_hash(pkg) == first
    # nor does where the package lives
    other = _make_package(tmp_path / "elsewhere")
    assert regnorm_cache.package_hash(other) == first
    assert re.fullmatch(r"[0-9a-f]{64}", first)


@pytest.mark.parametrize(
    "change",
    [
        lambda pkg: (pkg / "a.py").write_text("def f():\n    return 2\n"),  # edit
        lambda pkg: (pkg / "sub" / "c.py").write_text(""),  # new empty module
        lambda pkg: (pkg / "sub" / "b.py").rename(pkg / "sub" / "b2.py"),  # rename
        lambda pkg: (pkg / "sub" / "b.py").unlink(),  # removal
    ],
    ids=["edit", "add", "rename", "remove"],
)
def test_package_hash_changes_with_any_source_change(tmp_path: Path, change):
    pkg = _make_package(tmp_path)
    before = regnorm_cache.package_hash(pkg)
    change(pkg)
    assert regnorm_cache.package_hash(pkg) != before


def test_package_hash_rejects_a_missing_folder(tmp_path: Path):
    with pytest.raises(ValueError, match="package_dir"):
        regnorm_cache.package_hash(tmp_path / "nope")


def _sphinx_cache_path(project: Path, outdir: Path, configured: str = "") -> str:
    """Start a real Sphinx app with myst-nb and our extension; return the cache path myst-nb will use."""
    from sphinx.application import Sphinx

    (project / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(EXT_DIR)!r})\n"
        "extensions = ['myst_nb', 'regnorm_cache']\n"
        f"nb_execution_cache_path = {configured!r}\n"
    )
    (project / "index.md").write_text("# Title\n")
    app = Sphinx(
        srcdir=str(project),
        confdir=str(project),
        outdir=str(outdir / "html"),
        doctreedir=str(outdir / "doctrees"),
        buildername="html",
        status=None,
        warning=None,
        freshenv=True,
    )
    return app.env.mystnb_config.execution_cache_path


def test_configured_cache_path_follows_the_package_hash(tmp_path: Path):
    project = tmp_path / "proj"
    project.mkdir()
    pkg = _make_package(project)
    out = tmp_path / "out" / "_build"
    first = _sphinx_cache_path(project, out)
    expected = out / ".jupyter_cache" / regnorm_cache.package_hash(pkg)[:16]
    # The value myst-nb ends up with (it reads the config at builder-inited) is ours.
    assert Path(first) == expected.resolve()
    assert Path(first).is_dir()
    assert _sphinx_cache_path(project, out) == first  # unchanged package: same, warm cache
    (pkg / "a.py").write_text("def f():\n    return 3\n")
    second = _sphinx_cache_path(project, out)
    assert second != first
    assert Path(second).parent == Path(first).parent


def test_a_cache_base_from_the_config_is_kept(tmp_path: Path):
    project = tmp_path / "proj"
    project.mkdir()
    pkg = _make_package(project)
    base = tmp_path / "shared-cache"
    got = _sphinx_cache_path(project, tmp_path / "out", configured=str(base))
    assert Path(got) == base / regnorm_cache.package_hash(pkg)[:16]


def test_old_caches_are_pruned_but_recent_ones_kept(tmp_path: Path):
    project = tmp_path / "proj"
    project.mkdir()
    pkg = _make_package(project)
    out = tmp_path / "out"
    paths = []
    for i in range(regnorm_cache.KEEP_CACHES + 2):
        (pkg / "a.py").write_text(f"def f():\n    return {i}\n")
        paths.append(Path(_sphinx_cache_path(project, out)))
    kept = sorted(p.name for p in paths[0].parent.iterdir())
    assert len(kept) == regnorm_cache.KEEP_CACHES
    assert paths[-1].name in kept and paths[0].name not in kept


# --------------------------------------------------------------------------- Colab twins and MathJax


def test_every_chapter_has_an_up_to_date_colab_twin():
    stale = [str(p.relative_to(REPO_ROOT)) for p in colab_notebooks.stale_mirrors(REPO_ROOT)]
    assert stale == [], "regenerate with: .venv/bin/python book/_ext/colab_notebooks.py --write"


def test_colab_twins_are_committed():
    tracked = set(
        subprocess.run(
            ["git", "ls-files", "book/*.ipynb"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    )
    twins = {f"book/{p.stem}.ipynb" for p in toc_sources() if colab_notebooks.is_myst_notebook(p)}
    assert twins, "no chapter is a notebook?"
    assert twins - tracked == set(), "git add the Colab twins (book/*.ipynb): Colab reads them from GitHub"


def test_colab_twin_is_a_valid_notebook_with_the_chapter_code():
    page = REPO_ROOT / "book" / "01_penalties.md"
    twin = nbformat.read(colab_notebooks.mirror_path(page), as_version=4)
    nbformat.validate(twin)
    text = page.read_text().replace(REPOSITORY_URL_TOKEN, CONFIG["repository"]["url"])
    chapter = read_myst_markdown_notebook(text, path=page)
    assert [c.source for c in twin.cells if c.cell_type == "code"] == [
        c.source for c in chapter.cells if c.cell_type == "code"
    ]
    assert all(c.outputs == [] for c in twin.cells if c.cell_type == "code")
    assert twin.metadata["kernelspec"]["name"] == "python3"


def test_colab_markdown_expands_literalinclude_and_plain_roles(tmp_path: Path):
    import regnorm_lab.penalties as penalties

    md = textwrap.dedent(
        """\
        (sec-x)=
        See {cite}`tibshirani1996regression, zou2005regularization` and {eq}`eq-prox`, {doc}`for_students`.
        R² rose by {glue:text}`gain:.3f` over {glue:text}`n-draws` draws.

        $$ x = 1 $$ (eq-prox)

        ```{literalinclude} ../regnorm_lab/penalties.py
        :pyobject: soft_threshold
        ```
        """
    )
    out = colab_notebooks.to_colab_markdown(md, REPO_ROOT / "book")
    assert "{literalinclude}" not in out and "{cite}" not in out and "(sec-x)=" not in out
    assert "[tibshirani1996regression, zou2005regularization]" in out
    assert "(eq-prox)" in out and "$$ x = 1 $$\n" in out
    assert "for_students" in out
    # glued numbers become the label booktools.glue prints them under when the twin runs
    assert "R² rose by **[gain]** over **[n-draws]** draws." in out and "{glue" not in out
    # the included code is the function's real source, as Python's inspect module sees it
    assert inspect.getsource(penalties.soft_threshold).strip() in out


def test_colab_check_command_reports_a_stale_twin(tmp_path: Path):
    (tmp_path / "book").mkdir()
    (tmp_path / "regnorm_lab").symlink_to(REPO_ROOT / "regnorm_lab")  # the chapter literalincludes it
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/x/y\n")
    src = (REPO_ROOT / "book" / "01_penalties.md").read_text()
    (tmp_path / "book" / "01_penalties.md").write_text(src)
    assert colab_notebooks.main(["--root", str(tmp_path), "--check"]) == 1
    assert colab_notebooks.main(["--root", str(tmp_path), "--write"]) == 0
    assert colab_notebooks.main(["--root", str(tmp_path), "--check"]) == 0
    (tmp_path / "book" / "01_penalties.md").write_text(src + "\nOne more sentence.\n")
    assert colab_notebooks.main(["--root", str(tmp_path), "--check"]) == 1
    json.loads((tmp_path / "book" / "01_penalties.ipynb").read_text())


def test_local_mathjax_3_is_installed():
    dist = offline_mathjax.mathjax_dist()
    entry = (dist / offline_mathjax.MATHJAX_ENTRY).read_text(errors="replace")
    assert "MathJax" in entry
    assert re.search(r"3\.\d+\.\d+", entry), "expected MathJax 3"
    assert (dist / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_repeated_inline_scripts_are_dropped_once_each():
    from sphinx.builders.html._assets import _JavaScript

    thebe_builder = _JavaScript(None, body="const THEBE_JS_URL = 'x';")
    thebe_registry = _JavaScript("", body="const THEBE_JS_URL = 'x';")  # the same script, registered again
    other = _JavaScript(None, body="const y = 1;")
    file_js = _JavaScript("_static/a.js")
    file_js_async = _JavaScript("_static/a.js", **{"async": "async"})
    kept = quiet_console.dedupe_scripts([file_js, thebe_builder, other, thebe_registry, file_js_async, file_js])
    assert kept == [file_js, thebe_builder, other, file_js_async]
    assert kept[1] is thebe_builder


def test_cached_outputs_are_restored_into_the_executed_download(tmp_path: Path):
    """myst-nb writes jupyter_execute/*.ipynb without the outputs it took from the cache; we merge them back."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    source = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("print(6 * 7)")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    executed = nbformat.from_dict(json.loads(nbformat.writes(source)))
    executed.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    executed.cells[1].execution_count = 1
    cache_dir = tmp_path / "cache"
    cache = get_cache(str(cache_dir))
    cache.cache_notebook_bundle(CacheBundleIn(executed, "book/x.md"), check_validity=False)

    executed_dir = tmp_path / "jupyter_execute"
    (executed_dir / "book").mkdir(parents=True)
    stripped = executed_dir / "book" / "x.ipynb"
    nbformat.write(source, stripped)  # what myst-nb writes for a page served from the cache
    with_outputs = executed_dir / "book" / "y.ipynb"
    nbformat.write(executed, with_outputs)
    unknown = executed_dir / "book" / "z.ipynb"
    other = nbformat.from_dict(json.loads(nbformat.writes(source)))
    other.cells[1].source = "print('not in the cache')"
    nbformat.write(other, unknown)

    rewritten = colab_notebooks.restore_cached_outputs(executed_dir, cache_dir)
    assert rewritten == [stripped]
    restored = nbformat.read(stripped, as_version=4)
    assert restored.cells[1].outputs[0]["text"] == "42\n"
    assert nbformat.read(unknown, as_version=4).cells[1].outputs == []
    assert colab_notebooks.restore_cached_outputs(executed_dir, tmp_path / "no-cache") == []


def test_package_is_found_from_a_single_page_build_folder(tmp_path: Path):
    pkg = _make_package(tmp_path)
    (tmp_path / "book").mkdir()
    assert regnorm_cache.find_package_dir(tmp_path) == pkg.resolve()
    assert regnorm_cache.find_package_dir(tmp_path / "book") == pkg.resolve()
    assert regnorm_cache.find_package_dir(tmp_path / "book") == regnorm_cache.find_package_dir(tmp_path)
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    (empty / "regnorm_lab").mkdir()  # a folder without __init__.py is not the package
    assert regnorm_cache.find_package_dir(empty) in (None, pkg.resolve())


def test_bib_files_resolve_in_whole_book_and_single_page_builds(tmp_path: Path):
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "references.bib").write_text("")
    root = project_paths.project_root(tmp_path / "book")
    assert root == tmp_path.resolve()
    # whole book: srcdir is the root, the relative path already works and is kept
    assert project_paths.resolve_bibfiles(["book/references.bib"], tmp_path, root) == ["book/references.bib"]
    # single page: srcdir is book/, the path is made absolute from the root
    got = project_paths.resolve_bibfiles(["book/references.bib"], tmp_path / "book", root)
    assert got == [str((tmp_path / "book" / "references.bib").resolve())]
    assert Path(got[0]).is_file()
    # a file that exists nowhere is left for sphinxcontrib-bibtex to report
    assert project_paths.resolve_bibfiles(["nope.bib"], tmp_path / "book", root) == ["nope.bib"]
