PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install test test-random mutate bench lint

# torch==2.13.0 first: it is the CPU wheel; an open range would pull a multi-GB CUDA build.
install:
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test]'

test:
	$(PYTHON) -m pytest -q

# pytest-randomly (test extra) shuffles the order on every run; this prints the seed first (-q hides
# pytest's header): replay an order with --randomly-seed=N, the file order with -p no:randomly.
test-random:
	seed=$$(od -An -N2 -tu2 /dev/urandom | tr -d ' '); echo "random order: --randomly-seed=$$seed"; \
	$(PYTHON) -m pytest -q -p randomly --randomly-seed=$$seed

# Mutation testing of the numeric core (tests/mutmut.cfg: modules and their fast test selections).
# mutmut reads setup.cfg; the project has none, so the config is copied in for the run only.
# mutmut tests a copy under mutants/: BITCLI_TEST_SHARED keeps ../shared's real-data tests in the run.
mutate:
	cp tests/mutmut.cfg setup.cfg
	BITCLI_TEST_SHARED=$(CURDIR)/../shared $(PYTHON) -m mutmut run; status=$$?; $(PYTHON) -m mutmut results; \
	rm -f setup.cfg; exit $$status

bench:
	$(PYTHON) tests/bench/bench_data.py
	$(PYTHON) tests/bench/bench_export.py
	$(PYTHON) tests/bench/bench_runtime.py
	$(PYTHON) tests/bench/bench_all.py

lint:
	$(PYTHON) -m compileall -q bitcli tests
