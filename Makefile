# Two commands on a fresh machine: `make pilot` (set up + run the pilot) and `make test`.
PYTHON ?= python3
VENV ?= .venv
# CPU build by default; GPU users: make setup TORCH_SPEC="torch==2.13.0 --index-url <your CUDA index>"
TORCH_SPEC ?= torch==2.13.0
# Pinned versions of everything else (pip constraints; torch and CUDA wheels left out so that
# TORCH_SPEC decides). `make setup LOCK=` resolves the newest allowed versions instead.
LOCK ?= requirements/lock-cpu.txt
# The locked packages go in with uv (51 s with pip, 35 s with uv on the 2-core machine),
# compiled to bytecode as pip does: without it every job of a run where PYTHONDONTWRITEBYTECODE
# is set compiles its imports again (about 1.5 s a job). torch goes in with pip, which reads
# pip's own configuration (a local wheel, an index).
# `make setup INSTALLER=pip` where only pip's configuration reaches your package index.
INSTALLER ?= uv
UV_SPEC ?= uv==0.13.9
CORES ?= 2
SNAKEMAKE = $(VENV)/bin/snakemake
STAMP = $(VENV)/.installed

.PHONY: setup lock pilot unlock-stale test test-fast test-slurm dag lint fmt bench report clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q $(TORCH_SPEC)
	$(if $(filter uv,$(INSTALLER)),$(VENV)/bin/python -m pip install -q $(UV_SPEC))
	$(if $(filter uv,$(INSTALLER)),$(VENV)/bin/python -m uv pip install --compile-bytecode --python $(VENV)/bin/python,$(VENV)/bin/python -m pip install) \
	  -q $(if $(LOCK),-c $(LOCK)) -e ".[dev]"
	touch $(STAMP)

# Refresh the lock from the current venv (after e.g. `make setup LOCK=` picked newer versions).
lock:
	{ echo "# pip constraints for make setup: pip freeze of a working .venv (make lock);"; \
	  echo "# torch, its CUDA wheels and the project itself are left out."; \
	  $(VENV)/bin/python -m pip freeze --exclude-editable --all \
	    | grep -viE '^(torch|triton|nvidia-[a-z0-9_-]+|teachable|pip|uv|setuptools|wheel)([=@ ]|$$)'; \
	} > requirements/lock-cpu.txt.tmp && mv requirements/lock-cpu.txt.tmp requirements/lock-cpu.txt

# A run killed earlier (kill -9) leaves a lock: cleared first, but only when no Snakemake
# process works on this directory (teachable.workflow.locks), so a live run is never unlocked.
pilot: setup unlock-stale
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" snakemake --cores $(CORES)

unlock-stale: setup
	PYTHONPATH="$(CURDIR)/src" $(VENV)/bin/python -m teachable.workflow.locks --snakemake $(SNAKEMAKE)

# Test files run in parallel worker processes (pytest-xdist; the tests of one file stay in one
# worker, so a module fixture such as the whole-DAG run is built once). TEST_WORKERS=0: one process.
TEST_WORKERS ?= auto
test: setup
	$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: setup
	$(VENV)/bin/python -m pytest -q -m "not slow"

# Real single-node SLURM (root, Debian): model rules must land on the GPU partition.
test-slurm: setup
	WORKFLOW_DIR=. CONFIG=tests/data/config_mock.yaml \
	TARGETS="results/phase1/labeled_snapshots.jsonl results/phase0/state_restore_check.json" \
	REQUIRE_RULES=build_student,mining_rollouts,mining_expert,label_shard,mining_snapshots \
	COMPARE_EXCLUDE='(^|/)(logs?|benchmarks?|\.snakemake|teacher_usage\.json|usage[0-9]+\.json|bootstrap_report\.json)($$|/)' \
	bash tests/cluster/run_cluster_test.sh

dag: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/draw_dag.sh

lint: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" snakemake --lint
	$(VENV)/bin/snakefmt --check Snakefile rules/

fmt: setup
	$(VENV)/bin/snakefmt Snakefile rules/

bench: setup
	$(VENV)/bin/python benchmarks/rollout_throughput.py

report: setup
	$(SNAKEMAKE) --cores $(CORES) --report results/report.html

clean:
	rm -rf results .snakemake
