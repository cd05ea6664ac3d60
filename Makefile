# carrier-sim: `make run` and `make test` work on a fresh machine; both set up .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup system-deps run serve test soak bench broker clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,mqtt]"
	touch $(STAMP)

setup: $(STAMP)

## the main job: the baseline scenario for ~30 s against the simulator, ending with the SLA report
run: setup
	$(VENV)/bin/carrier-sim run scenarios/baseline.yaml

## the simulator alone, in the foreground, for your own SMPP client (Ctrl-C stops it)
serve: setup
	$(VENV)/bin/carrier-sim -v serve

## programs the tests run (Debian packages): mosquitto (the MQTT tests' broker; mosquitto_passwd comes with it)
## and openssl (the MQTT TLS test's certificate). Installed when root with apt-get; otherwise says how.
SYSTEM_DEPS := mosquitto openssl
system-deps:
	@missing=""; \
	for tool in $(SYSTEM_DEPS); do \
		command -v $$tool >/dev/null 2>&1 || [ -x /usr/sbin/$$tool ] || missing="$$missing $$tool"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing$$missing for the tests (apt-get)"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get update -qq \
		  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing >/dev/null; } \
		|| echo "make: apt-get could not install$$missing: the tests that need it will be SKIPPED"; \
	else \
		echo "make: missing$$missing: the tests that need it will be SKIPPED; install with: sudo apt-get install$$missing"; \
	fi

## the tests (no soaks): well under 15 minutes on 2 cores. pytest's exit 5 (no tests collected) fails too.
test: setup system-deps
	@$(PY) -m pytest -q -m "not soak" || { code=$$?; \
		[ $$code -ne 5 ] || echo "make test: pytest collected no tests: nothing was checked (exit 5)"; exit $$code; }

## long soak tests only
soak: setup
	$(PY) -m pytest -q -m soak

## an MQTT broker for `serve --mqtt` / `meter --mqtt`: Debian's mosquitto on 127.0.0.1:$(BROKER_PORT), in the foreground
BROKER_PORT ?= 1883
broker: setup
	$(PY) -m simulator.events.broker --port $(BROKER_PORT)

## benchmarks (~2 min): prints tables; record them in bench/RESULTS.md. Options: BENCH_ARGS="--repeat 1 --only carrier-sim"
bench: setup
	@if [ ! -d bench/peers/node_modules ] && command -v npm >/dev/null 2>&1; then \
		npm install --prefix bench/peers --no-audit --no-fund \
		|| echo "npm install failed: the node-smpp peer will be skipped"; fi
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

## mutation testing (docs/mutation.md): mutmut mutates copies (mutants/) of the modules that carry the promises
## and runs, for each mutant, the focused tests that reach its function; 6-11 min on 2 cores; not part of make test.
## Prints the score per module and every mutant left alive; fails if one is not explained in docs/mutation.md.
## A subset: make mutants MUTANTS="'loadtests.gates.*'"   One mutant: .venv/bin/mutmut show NAME
MUTANTS ?= 'loadtests.gates.*' 'loadtests.reconcile.*' \
	'simulator.metering.meter.*' 'simulator.metering.compensation.*' 'simulator.metering.billing.*' \
	'simulator.smpp.coding.x_segment_limits__*' 'simulator.smpp.coding.x__check_concat__*' \
	'simulator.smpp.coding.x__chunk_ends__*' 'simulator.smpp.coding.x_segment_count__*' \
	'simulator.smpp.coding.x_count_segments__*' 'simulator.smpp.coding.x__ia5_septets__*' \
	'simulator.ledger.writer.x?LedgerWriter?*'
MUTANTS_JOBS ?= 2
.PHONY: mutants
mutants: setup
	@test -x $(VENV)/bin/mutmut || $(PY) -m pip install --quiet -e ".[test,mqtt,mutation]"
	rm -rf mutants
	@start=$$(date +%s); mkdir -p mutants; echo "make mutants: mutmut run (its log: mutants/mutmut-run.log)"; \
	$(VENV)/bin/mutmut run --max-children $(MUTANTS_JOBS) $(MUTANTS) >mutants/mutmut-run.log 2>&1 \
		|| { tail -c 3000 mutants/mutmut-run.log; echo; echo "make mutants: mutmut run failed"; exit 1; }; \
	$(PY) bench/mutants.py --since $$start $(MUTANTS)

## coverage (docs/coverage.md): the tests (not soaks) under coverage.py, their subprocesses measured too (the
## simulator, its ledger writer, Locust and its workers: [tool.coverage.run] in pyproject.toml); the data of
## every process combined, a per-module report, htmlcov/index.html. Not part of make test. A failing test
## still gives the report; the target then fails with pytest's exit code. Options: COVERAGE_PYTEST_ARGS="tests/x.py"
COVERAGE_PYTEST_ARGS ?= -m "not soak"
.PHONY: coverage
coverage: setup system-deps
	rm -rf .coverage .coverage.* htmlcov
	@COVERAGE_FILE="$(CURDIR)/.coverage" $(PY) -m coverage run -m pytest -q $(COVERAGE_PYTEST_ARGS); code=$$?; \
	COVERAGE_FILE="$(CURDIR)/.coverage" $(PY) -m coverage combine -q || exit 1; \
	COVERAGE_FILE="$(CURDIR)/.coverage" $(PY) -m coverage report || exit 1; \
	COVERAGE_FILE="$(CURDIR)/.coverage" $(PY) -m coverage html -q && echo "make coverage: htmlcov/index.html"; \
	[ $$code -eq 0 ] || echo "make coverage: pytest exited with $$code (the report above still counts what ran)"; \
	exit $$code
