# `make run` and `make test` both create .venv when it is missing and install the package.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
# The CPU build of torch that lies on these machines' disk; a looser pin pulls a CUDA build.
TORCH   ?= torch==2.13.0

.PHONY: run test clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

# The main job: the same 2D ring trained twice, once as a plain GAN that collapses and once
# with the recommended settings that keep every mode; prints both summaries.
run: $(STAMP)
	$(VENV)/bin/modecollapse train --data ring --preset vanilla --seed 1 --out runs/ring-vanilla --overwrite
	$(VENV)/bin/modecollapse train --data ring --preset recommended --seed 1 --out runs/ring-recommended --overwrite

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) runs .pytest_cache
