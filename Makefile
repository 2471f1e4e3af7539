# make demo / make test do ALL set-up on a fresh machine: a .venv with the versions pinned in
# constraints.txt (torch included), the project and its extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The versions every install here uses; `make lock` refreshes them.
CONSTRAINTS ?= constraints.txt
PIP_C := -m pip install --quiet -c $(CONSTRAINTS)
# The CPU build of torch; set TORCH_SPEC (and PIP_EXTRA) to choose another build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
# A second venv with exactly the runtime distribution (./runtime, not installed in place) and its
# vehicle extras: no torch, no onnx, no edgedg. The runtime's tests run there with the repository
# root off the import path (pytest's own script, not `python -m pytest`), as on a vehicle.
RUNTIME_VENV ?= .venv-runtime
RUNTIME_PY := $(RUNTIME_VENV)/bin/python
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed
RUNTIME_SRC := $(shell find runtime -name '*.py' -o -name '*.toml' -o -name '*.json' | grep -v /build/)
RUNTIME_TESTS := tests/test_runtime_*.py tests/test_contract_load.py tests/test_bank_core.py \
	tests/test_bank_adapt.py tests/test_bank_integrity.py tests/test_bank_trust.py

.PHONY: demo test test-runtime lint install lock clean

$(STAMP): pyproject.toml Makefile $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_C) --upgrade pip setuptools
	$(PY) $(PIP_C) "$(TORCH_SPEC)"
	$(PY) $(PIP_C) --no-build-isolation -e ./runtime -e ".[all,dev]"
	touch $(STAMP)

$(RUNTIME_STAMP): Makefile $(CONSTRAINTS) $(RUNTIME_SRC)
	$(PYTHON) -m venv $(RUNTIME_VENV)
	echo '*' > $(RUNTIME_VENV)/.gitignore
	$(RUNTIME_PY) $(PIP_C) --upgrade pip setuptools
	$(RUNTIME_PY) $(PIP_C) --no-build-isolation --force-reinstall --no-deps ./runtime
	$(RUNTIME_PY) $(PIP_C) --no-build-isolation "./runtime[ort,camera,cli,sign]" pytest pytest-timeout
	touch $(RUNTIME_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/edgedg demo --out demo-out

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: $(STAMP) lint
	$(PY) -m pytest -q
	$(MAKE) test-runtime

test-runtime: $(RUNTIME_STAMP)
	@$(RUNTIME_PY) -I -c "import importlib.util as u, sys; \
	bad = [m for m in ('torch', 'onnx', 'edgedg', 'edgedg_export') if u.find_spec(m)]; \
	sys.exit('$(RUNTIME_VENV) has %s: the runtime must be tested without them; \
	rm -rf $(RUNTIME_VENV) and run make test-runtime again' % bad if bad else 0)"
	EDGEDG_RUNTIME_ONLY=1 $(RUNTIME_VENV)/bin/pytest -q $(RUNTIME_TESTS)

# Refresh constraints.txt: the newest versions the extras' ranges admit, in a throwaway venv.
# Run make test afterwards and commit the file with what it changed.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip setuptools
	.venv-lock/bin/python -m pip install --quiet "$(TORCH_SPEC)"
	.venv-lock/bin/python -m pip install --quiet -e ./runtime -e ".[all,dev]"
	{ sed -n '/^#/p' $(CONSTRAINTS); .venv-lock/bin/python -m pip freeze --all --exclude-editable \
	  | sed 's/^\(torch==[^+]*\)+.*/\1/'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) demo-out .pytest_cache .ruff_cache runtime/build
