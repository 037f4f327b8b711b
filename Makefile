PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install test bench lint

# torch==2.13.0 first: it is the CPU wheel; an open range would pull a multi-GB CUDA build.
install:
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test]'

test:
	$(PYTHON) -m pytest -q

bench:
	$(PYTHON) tests/bench/bench_data.py
	$(PYTHON) tests/bench/bench_export.py
	$(PYTHON) tests/bench/bench_runtime.py
	$(PYTHON) tests/bench/bench_all.py

lint:
	$(PYTHON) -m compileall -q bitcli tests
