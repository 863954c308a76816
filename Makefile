# Two commands on a fresh machine: `make pilot` (set up + run the pilot) and `make test`.
PYTHON ?= python3
VENV ?= .venv
# CPU build by default; GPU users: make setup TORCH_SPEC="torch==2.13.0 --index-url <your CUDA index>"
TORCH_SPEC ?= torch==2.13.0
CORES ?= 2
SNAKEMAKE = $(VENV)/bin/snakemake
STAMP = $(VENV)/.installed

.PHONY: setup pilot test test-fast test-slurm dag lint fmt bench report clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q $(TORCH_SPEC)
	$(VENV)/bin/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

pilot: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" snakemake --cores $(CORES)

test: setup
	$(VENV)/bin/python -m pytest -q

test-fast: setup
	$(VENV)/bin/python -m pytest -q -m "not slow"

test-slurm: setup
	bash tests/cluster/run_cluster_test.sh

dag: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/draw_dag.sh

lint: setup
	$(SNAKEMAKE) --lint
	$(VENV)/bin/snakefmt --check Snakefile rules/

fmt: setup
	$(VENV)/bin/snakefmt Snakefile rules/

bench: setup
	$(VENV)/bin/python benchmarks/rollout_throughput.py

report: setup
	$(SNAKEMAKE) --cores $(CORES) --report results/report.html

clean:
	rm -rf results .snakemake
