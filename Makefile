PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install install-newest install-lowest lock test test-random mutate mutate-verify bench lint

# Locked install: torch first (the CPU wheel torch==2.13.0, only when no usable torch is installed: an
# Ascend host's torch is kept), then this package + test extras through requirements/lock-cpXY-ARCH.txt.
install:
	$(PYTHON) requirements/install.py

# Every dependency but torch to the newest release pyproject.toml allows (CI's second leg).
install-newest:
	$(PYTHON) requirements/install.py --newest

# The lowest versions pyproject.toml allows (keeps its lower bounds honest; into a scratch venv, not CI).
install-lowest:
	$(PIP) install -q 'uv>=0.4'
	$(PYTHON) requirements/install.py --lowest

# Regenerate requirements/lock-*.txt from the registry (wheels only, Python 3.10-3.13 x x86_64/aarch64).
lock:
	$(PIP) install -q 'uv>=0.4'
	$(PYTHON) requirements/install.py --lock

# -n auto: one pytest-xdist worker per core, each kept to its own core (tests/conftest.py); --dist loadfile
# keeps a file's tests, and its module-scoped fixtures, on one worker.
test:
	$(PYTHON) -m pytest -q -n auto --dist loadfile

# pytest-randomly (test extra) shuffles the order on every run; this prints the seed first (-q hides
# pytest's header): replay an order with --randomly-seed=N, the file order with -p no:randomly.
test-random:
	seed=$$(od -An -N2 -tu2 /dev/urandom | tr -d ' '); echo "random order: --randomly-seed=$$seed"; \
	$(PYTHON) -m pytest -q -p randomly --randomly-seed=$$seed

# Mutation testing of the numeric core (tests/mutmut.cfg: modules and their fast test selections).
# mutmut reads setup.cfg; the project has none, so the config is copied in for the run only.
# mutmut tests a copy under mutants/: BITCLI_TEST_SHARED keeps ../shared's real-data tests in the run.
# OMP_NUM_THREADS=1: mutmut forks each mutant's run from a process whose torch already started OpenMP
# threads, and forked children hung in their first threaded conv (asleep, so mutmut's CPU-time limit
# never fired).
mutate:
	rm -rf mutants  # mutmut 3 reuses an old copy and would ignore a changed config
	cp tests/mutmut.cfg setup.cfg
	OMP_NUM_THREADS=1 BITCLI_TEST_SHARED=$(CURDIR)/../shared $(PYTHON) -m mutmut run; status=$$?; $(PYTHON) -m mutmut results; \
	rm -f setup.cfg; exit $$status

# The same for the export/simplify verification functions only (tests/mutmut-verify.cfg says why apart).
VERIFY_MUTANTS = 'bitcli.stages.export.x_verify_onnx__mutmut_*' 'bitcli.stages.export.x__check_settings__mutmut_*' \
	'bitcli.stages.simplify.x__compare_models__mutmut_*' 'bitcli.stages.simplify.x__simplify_one__mutmut_*'
mutate-verify:
	rm -rf mutants
	cp tests/mutmut-verify.cfg setup.cfg
	OMP_NUM_THREADS=1 $(PYTHON) -m mutmut run $(VERIFY_MUTANTS); status=$$?; $(PYTHON) -m mutmut results; \
	rm -f setup.cfg; exit $$status

bench:
	$(PYTHON) tests/bench/bench_data.py
	$(PYTHON) tests/bench/bench_export.py
	$(PYTHON) tests/bench/bench_runtime.py
	$(PYTHON) tests/bench/bench_all.py

lint:
	$(PYTHON) -m compileall -q bitcli tests
