# Two commands do all the set-up: `make demo` and `make test`.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint lab notebooks docs bench clean

# Create the virtual environment and install ccnb (editable) with its extras,
# pinned to the tested versions in requirements/constraints.txt.
$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Validate and run every notebook for the two demo clients; ends with the path of the index.
demo: install
	$(BIN)/ccnb check params/demo.yaml params/cdnow.yaml
	$(BIN)/ccnb run params/demo.yaml params/cdnow.yaml

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

NBVAL := --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --ignore=tests/fixtures

test: lint
	$(BIN)/python -m pytest $(NBVAL) tests notebooks

# Re-execute the notebooks with params/demo.yaml and store their outputs (what nbval compares).
notebooks: install
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace notebooks/[0-9][0-9]_*.ipynb

# The documentation site, offline and strict: open build/site/index.html.
docs: install
	$(BIN)/python docs/build_site.py

lab: install
	$(BIN)/jupyter lab notebooks/

# Time ccnb against lifetimes and the kernel floor on seeded synthetic data; prints the table.
bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache outputs/*/
