# seg_platform: `make demo` runs the platform on its synthetic sample, `make test` runs the tests.
# Both set everything up from nothing: a .venv with the locked dependencies and the project.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
COMPILED := $(VENV)/.compiled

.PHONY: setup setup-spark demo test test-unit test-spark test-all guards ui mlflow-ui lint \
	lint-imports typecheck check-defs format lock bench bench-e2e clean

setup: $(STAMP) $(COMPILED)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# Bytecode once, at set-up: with PYTHONDONTWRITEBYTECODE set (as on the project's machines)
# every process would otherwise compile Dagster, MLflow and scikit-learn again, 10-20 s each.
$(COMPILED): $(STAMP)
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib seg_platform > /dev/null
	touch $(COMPILED)

demo: setup  ## generate the synthetic sample and materialize every asset
	$(BIN)/seg-platform demo

# A pytest-xdist worker per core (at most 4: each holds Dagster and MLflow, ~1.5 GB at its
# peak); `make test TEST_WORKERS=0` runs in one process. How tests are shared out: conftest.py.
TEST_WORKERS ?= auto

# The tests' temporary files (homes, warehouses, Dagster's and MLflow's sqlite stores) on a
# RAM disk when there is one with room: Dagster commits every event to sqlite, and each commit
# waits for the disk (measured: a 300-customer month 68 s instead of 88 s, the same CPU).
# pytest removes a passing test's folder at once and the run's after a passing session
# (tmp_path_retention_policy in pyproject.toml). `make test TEST_TMPDIR=/tmp` keeps the disk.
TEST_TMPDIR ?= $(shell df -k --output=avail /dev/shm 2>/dev/null \
	| awk 'NR == 2 && $$1 > 4000000 { print "/dev/shm" }')
TEST_ENV := $(if $(TEST_TMPDIR),TMPDIR=$(TEST_TMPDIR))

test: guards  ## the static guards, then the default test suite (slow scale runs excluded)
	$(TEST_ENV) $(BIN)/python -m pytest -m "not slow and not spark" -n $(TEST_WORKERS) --maxprocesses 4

# The distributed engine's extra (issue 22): pyspark, pinned in pyproject.toml's `spark` extra
# (a ~0.5 GB install; Java 17 must be on the machine). The rest stays as requirements.lock has it.
SPARK_STAMP := $(VENV)/.spark-installed

setup-spark: $(SPARK_STAMP)

$(SPARK_STAMP): $(STAMP)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements.lock -e '.[spark]'
	touch $(SPARK_STAMP)

# Spark on `local[2]` and on a standalone cluster (a master and two workers on 127.0.0.1,
# started and stopped by the tests); one process: a JVM per xdist worker would not fit 2 cores.
test-spark: setup-spark  ## the Spark tier: SQL models and steps on Spark give DuckDB's rows
	$(BIN)/python -m pytest -m spark -n 0 seg_platform_tests/spark

# Only the files that declare the marker are collected: collecting the others imports Dagster,
# MLflow and GX, which alone takes longer than the unit tests.
UNIT_FILES = $(shell grep -rl --include='test_*.py' '^pytestmark = pytest.mark.unit' seg_platform_tests)

test-unit: setup  ## the tests of pure logic: no Dagster run, no server, under a minute
	$(BIN)/python -m pytest -m unit $(sort $(UNIT_FILES))

test-all: guards setup-spark  ## every test, the slow scale runs and the Spark tier too
	$(TEST_ENV) $(BIN)/python -m pytest -m "not spark" -n $(TEST_WORKERS) --maxprocesses 4
	$(BIN)/python -m pytest -m spark -n 0 seg_platform_tests/spark

ui: setup  ## Dagster UI on http://127.0.0.1:3000
	$(BIN)/seg-platform ui

mlflow-ui: setup  ## MLflow UI on http://127.0.0.1:5000
	$(BIN)/seg-platform mlflow-ui

guards: lint lint-imports typecheck  ## the static checks `make test` runs before the tests

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

lint-imports: setup  ## the import contracts in pyproject.toml: flow order, no dagster in logic, no cycle
	$(BIN)/lint-imports --no-logo

typecheck: setup  ## mypy on the modules without Dagster listed in pyproject.toml
	$(BIN)/mypy

check-defs: setup  ## Dagster's own validation of the code location in workspace.yaml
	mkdir -p .seg_platform/dagster
	DAGSTER_HOME=$(CURDIR)/.seg_platform/dagster $(BIN)/dagster definitions validate -w workspace.yaml

format: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

lock:  ## re-resolve requirements.lock after changing pyproject.toml
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra dev pyproject.toml -o requirements.lock

bench: setup
	$(BIN)/python benchmarks/generator_throughput.py --customers 100000 1000000 --months 12

bench-e2e: setup  ## the whole asset graph at 100k and 1M customers (docs/scaling.md)
	$(BIN)/python benchmarks/end_to_end.py --customers 100000 1000000 --months 12

clean:
	rm -rf $(VENV) .seg_platform .pytest_cache .mypy_cache .grimp_cache .import_linter_cache
