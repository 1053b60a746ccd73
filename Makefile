# The two entry points of the README. Both set up .venv/ first (apt packages, Python packages, build).
.PHONY: demo test setup bench lint vm-test vm-interop vm-bench

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

# Kernel-SCTP tests in the VM of ../shared/tools/vm (builds the image once; boots a slow
# emulated VM: several minutes). See scripts/vm-test.sh.
vm-test: setup
	bash scripts/vm-test.sh

# Only the RSPLIB interop tests in the VM (our registrar with rspserver, rspterminal and
# rspregistrar on the guest's kernel SCTP).
vm-interop: setup
	VM_TESTS=tests/registrar/test_rsplib_interop.py VM_HOST_INTEROP=0 bash scripts/vm-test.sh

# RSPLIB's rspregistrar and ours side by side under the same load, on the guest's kernel SCTP
# (benches/vm_registrar_compare.py; VM_BENCH_ARGS="--pes 1000 --pes 100000 --rounds 2").
VM_BENCH_ARGS ?= --pes 1000 --rounds 2
vm-bench: setup
	VM_RUN='python3 $(CURDIR)/benches/vm_registrar_compare.py $(VM_BENCH_ARGS)' VM_HOST_INTEROP=0 \
		bash scripts/vm-test.sh
