# Two commands for a fresh machine (see README): `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

OUTPUTS ?= outputs

.PHONY: demo test lint setup clean clean-ensembles

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

DEMO_TARGET ?= 2000

# 1. one network (paper protocol); 2. a small over-para ensemble into outputs/ensembles/ (resumes);
# 3. its effective Ising model, every part; 4. the entropy landscape of every part around a few references
demo: $(STAMP)
	WANDB_SILENT=true $(BIN)/python train.py
	WANDB_SILENT=true $(BIN)/python train.py experiment=collect_demo collect.target=$(DEMO_TARGET)
	WANDB_SILENT=true $(BIN)/python fit_ising.py scenario=over_para part=all
	WANDB_SILENT=true $(BIN)/python landscape.py scenario=over_para references.count=4 analysis.entropy.x.step=0.1

test: $(STAMP)
	WANDB_SILENT=true $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# Everything the apps wrote under $(OUTPUTS) except ensembles/ (stores hold hours of collection).
clean:
	test ! -d $(OUTPUTS) || find $(OUTPUTS) -mindepth 1 -maxdepth 1 ! -name ensembles ! -name .gitkeep -exec rm -rf {} +
	rm -rf multirun .pytest_cache

# The ensemble stores too: only on explicit request.
clean-ensembles:
	@test "$(CONFIRM)" = yes || { echo "clean-ensembles deletes $(OUTPUTS)/ensembles (hours of collection); to do so: make clean-ensembles CONFIRM=yes"; exit 1; }
	rm -rf $(OUTPUTS)/ensembles
