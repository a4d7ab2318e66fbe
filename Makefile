# `make run` and `make test` both create .venv when it is missing and install the package.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
# The CPU build of torch that lies on these machines' disk; a looser pin pulls a CUDA build.
TORCH   ?= torch==2.13.0
# Reference implementations the feature-extractor tests compare with, pinned. --no-deps: their
# declared requirements (torchvision, xformers, an old torch) are neither needed by the module
# files the tests load nor installable beside this torch. --target $(VENV)/refs, outside
# sys.path: in site-packages torch-fidelity made `import torchmetrics` (and lightning) try to
# load torchvision (tests/reference_impls.py loads them from there). Their modules that import
# torchvision (datasets, the other extractors, torch-fidelity's utils, which the tests stub) are
# then removed: the tests load none of them, so nothing set up here can try to import it.
REFS    := torch-fidelity==0.4.0 dinov2==0.0.1.dev2

.PHONY: run test docs clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"
	$(PY) -m pip uninstall -q -y torch-fidelity dinov2 2>/dev/null || true
	$(PY) -m pip install -q --no-deps --upgrade --target $(VENV)/refs $(REFS)
	grep -rlE '^\s*(import|from) torchvision' $(VENV)/refs --include='*.py' | xargs -r rm -f
	touch $(STAMP)

# The main job: the quick suite - the plain GAN against R1, spectral norm on D, packing and
# --preset best on ring and grid, 2 seeds (src/modecollapse/bench/suites/quick.toml); prints the
# leaderboard and the path of runs/quick/report.html. Run again, it reuses the finished runs.
run: $(STAMP)
	$(VENV)/bin/modecollapse bench --suite quick --out runs/quick

# The linter (ruff, configured in pyproject.toml) runs first: a lint error fails `make test`.
# The tests run on TEST_WORKERS processes (pytest-xdist; each test uses one thread, conftest.py):
# on a 2-core machine 2 take the suite from about 6.5 to 4.5 minutes. TEST_WORKERS=0 runs them in
# this process (for pdb). The ten slowest are listed at the end, to keep an eye on.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks docs/hooks.py
	$(PY) -m pytest -n $(TEST_WORKERS) --durations=10

# The documentation site (docs/, mkdocs.yml) into site/; the stamp installs the pinned `docs` extra
# (through `test`). --strict: a broken link, anchor or API reference fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) runs .pytest_cache site
