"""The built book as a reader sees it: every page in headless Chromium, offline.

Needs the HTML of ``make book`` in ``_build/html`` (or the folder named by the
environment variable ``REGNORM_BOOK_HTML``, for builds made with
``--path-output``) and Debian's ``/usr/bin/chromium`` (``make system-deps``).
The pages are served from 127.0.0.1 by a ``http.server`` thread; every request
to any other host is blocked and counts as a failure, because the book must
work without a network (MathJax is served from ``_static/mathjax``).

Screenshots of every page go to ``artifacts/screenshots/`` (gitignored).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = Path(os.environ.get("REGNORM_BOOK_HTML", REPO_ROOT / "_build" / "html"))
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_TOC = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
_CONFIG = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())


def toc_pages() -> list[str]:
    pages = [_TOC["root"]]
    for part in _TOC.get("parts", []):
        for chapter in part.get("chapters", []):
            pages.append(chapter["file"])
            pages.extend(s["file"] for s in chapter.get("sections", []))
    return pages


def _is_notebook(page: str) -> bool:
    text = (REPO_ROOT / f"{page}.md").read_text()
    return text.startswith("---\n") and "kernelspec:" in text.split("\n---\n", 1)[0]


def _require_build() -> Path:
    if not (HTML_DIR / "index.html").is_file():
        pytest.fail(f"no built book in {HTML_DIR}: run `make book` first (or set REGNORM_BOOK_HTML)")
    return HTML_DIR


# --------------------------------------------------------------------------- no browser needed


@pytest.mark.slow
def test_build_has_one_html_page_per_toc_entry():
    html = _require_build()
    expected = {f"{p}.html" for p in toc_pages()}
    built = {p.relative_to(html).as_posix() for p in (html / "book").glob("*.html")}
    assert built == expected


@pytest.mark.slow
def test_build_ships_mathjax_and_no_cdn_script():
    html = _require_build()
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    for page in toc_pages():
        text = (html / f"{page}.html").read_text()
        external = [s for s in re.findall(r'<script[^>]+src="([^"]+)"', text) if re.match(r"(https?:)?//", s)]
        assert external == [], f"{page} loads scripts from the network: {external}"


# --------------------------------------------------------------------------- headless Chromium


@pytest.fixture(scope="module")
def server():
    html = _require_build()
    handler = functools.partial(_QuietHandler, directory=str(html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class PageVisit:
    """One page load with its console errors and every request that tried to leave 127.0.0.1."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.offsite: list[str] = []
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.response = self.page.goto(url, wait_until="load")

    def _route(self, route):
        host = urlparse(route.request.url).hostname
        if host in {"127.0.0.1", "localhost"} or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.offsite.append(route.request.url)
            route.abort()

    def close(self):
        self.context.close()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("page_name", toc_pages())
def test_page_renders_offline(browser, server, page_name: str):
    visit = PageVisit(browser, f"{server}/{page_name}.html")
    page = visit.page
    try:
        assert visit.response is not None and visit.response.status == 200
        h1 = page.locator("main h1, article h1").first
        assert h1.count() == 1 and h1.inner_text().strip(), "page has no h1"

        n_math = page.locator("span.math, div.math").count()
        if "$$" in (REPO_ROOT / f"{page_name}.md").read_text():
            assert n_math > 0, "the source has display math but the page has no math element"
        if n_math:
            # every math element typeset by MathJax, and none of them a TeX error
            page.wait_for_function(
                "() => [...document.querySelectorAll('span.math, div.math')]"
                ".every(el => el.querySelector('mjx-container'))",
                timeout=30_000,
            )
            assert page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"

        # every image loaded (lazy ones are made eager first, so the check covers the whole page)
        broken = page.evaluate(
            """async () => {
                const imgs = [...document.images];
                await Promise.all(imgs.map(img => {
                    img.loading = 'eager';
                    return img.complete ? null : new Promise(r => { img.onload = img.onerror = r; });
                }));
                return imgs.filter(img => !(img.naturalWidth > 0)).map(img => img.src);
            }"""
        )
        assert broken == [], f"images that did not load: {broken}"

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{page_name.replace('/', '__')}.png"), full_page=True)

        assert visit.offsite == [], f"the page needs the network: {visit.offsite}"
        assert visit.failed == [], f"requests that failed: {visit.failed}"
        assert visit.errors == [], f"console errors: {visit.errors}"
    finally:
        visit.close()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("page_name", [p for p in toc_pages() if _is_notebook(p)])
def test_notebook_page_offers_colab_and_ipynb_download(browser, server, page_name: str):
    visit = PageVisit(browser, f"{server}/{page_name}.html")
    try:
        page = visit.page
        repo = _CONFIG["repository"]["url"].removeprefix("https://github.com/")
        colab = f"https://colab.research.google.com/github/{repo}/blob/{_CONFIG['repository']['branch']}/{page_name}.ipynb"
        assert page.locator(f'a[href="{colab}"]').count() == 1
        # The Colab link targets the committed twin next to the chapter.
        assert (REPO_ROOT / f"{page_name}.ipynb").is_file()

        hrefs = page.eval_on_selector_all("a[href$='.ipynb']", "els => els.map(e => e.href)")
        local = [h for h in hrefs if h.startswith(server)]
        assert local, "no .ipynb download link"
        with urllib.request.urlopen(local[0]) as resp:
            assert resp.status == 200
            nb = json.loads(resp.read())
        assert nb["nbformat"] == 4
        # the download is the executed notebook: it carries the outputs computed at build time
        # (execution counts are not kept when jupyter-cache serves a notebook, so outputs are checked)
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code, "the downloaded notebook has no code"
        if len(code) > 1:  # more than the install cell, which prints nothing
            assert any(c.get("outputs") for c in code[1:]), "the downloaded notebook has no outputs"
    finally:
        visit.close()


@pytest.mark.browser
@pytest.mark.slow
def test_search_finds_dropout(browser, server):
    visit = PageVisit(browser, f"{server}/search.html?q=dropout")
    try:
        page = visit.page
        page.wait_for_selector("#search-results ul.search li", timeout=30_000)
        results = page.locator("#search-results ul.search li")
        assert results.count() >= 1
        titles = " ".join(results.all_inner_texts()).lower()
        assert "dropout" in titles
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "search_dropout.png"), full_page=True)
        assert visit.offsite == [] and visit.errors == []
    finally:
        visit.close()
