# The two entry points of the README. Both set up .venv/ first (apt packages, Python packages, build).
.PHONY: demo test setup bench lint vm-test

PY := .venv/bin/python

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m rserpool.demo

test: setup
	$(PY) -m pytest -rs tests

bench: setup
	$(PY) -m pytest benches --benchmark-only --benchmark-columns=min,median,mean,ops,rounds

lint: setup
	$(PY) -m ruff check rserpool tests benches
	$(PY) -m mypy
