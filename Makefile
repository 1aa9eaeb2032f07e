# gridlib — two commands on a fresh machine:
#   make demo   the nightly responsibility-map run on the bundled demo data (GeoPackage store)
#   make test   the whole test suite against a throwaway PostgreSQL/PostGIS cluster
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
OUT    ?= demo-out
DATE   ?= 2026-11-21

.PHONY: demo test venv lint bench clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,dask]"
	@touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	@bash scripts/system_deps.sh demo
	$(PY) pipelines/run_demo.py --out $(OUT) --date $(DATE)

test: $(VENV)/.installed
	@bash scripts/system_deps.sh test
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check gridlib tests pipelines benchmarks

bench: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[bench]"
	for b in benchmarks/bench_*.py benchmarks/compare_*.py; do $(PY) $$b --quick || exit 1; done

clean:
	rm -rf $(OUT) .pytest_cache build *.egg-info
