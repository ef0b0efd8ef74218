# regnorm-lab: every set-up step a fresh machine needs lives here.
#   make book   -> build the online book into _build/html (the main job)
#   make test   -> build the book, then run the whole test suite (what CI runs)
# Both create the virtual environment .venv from requirements.txt on first use.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# pip warns once per package about a missing local index folder on these machines; the sed keeps the log readable.
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: venv book book-clean test test-fast bench system-deps clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) -r requirements.txt -e . 2>&1 | sed '/is ignored: it is neither/d'
	$(PY) -c "import regnorm_lab, torch, nbgrader, jupyter_book"
	touch $(STAMP)

# Debian packages the browser test, the PostgreSQL gradebook test and the grading sandbox
# (bubblewrap; prlimit and setpriv from util-linux) need.
system-deps:
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	need=""; \
	[ -x /usr/bin/chromium ] || need="$$need chromium"; \
	command -v pg_ctlcluster >/dev/null 2>&1 || [ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$$need postgresql"; \
	command -v bwrap >/dev/null 2>&1 || need="$$need bubblewrap"; \
	command -v setpriv >/dev/null 2>&1 && command -v prlimit >/dev/null 2>&1 || need="$$need util-linux"; \
	if [ -n "$$need" ]; then \
	  echo "installing Debian packages:$$need"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
	fi

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going

book-clean:
	rm -rf _build

test: $(STAMP) system-deps
	$(MAKE) book
	$(PY) -m pytest

# The quick loop while developing: unit tests only.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not browser"

# glibc otherwise returns every large (16 MB) buffer to the OS and page-faults it back on the
# next call, which adds noise of up to 2x to torch's side; keep freed memory in the heap instead.
BENCH_ENV := MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=536870912

# Each benchmark is a script in benchmarks/ that prints ratios; add one recipe line per script.
bench: $(STAMP)
	$(BENCH_ENV) $(PY) benchmarks/reference_vs_torch.py
	$(PY) benchmarks/batched_trainer.py

clean:
	rm -rf _build .pytest_cache .hypothesis
