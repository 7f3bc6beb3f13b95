# Lowbit — common entry points. `make test` is the command CI (.ci/run) runs.
#
#   make build      release build of the lowbit binary and the benchmark
#   make test       release build, Swift tests, fixtures check, Python interop suite
#   make demo       fetch the real model and inspect it (see scripts/demo.sh for a fresh machine)
#   make bench      benchmarks (BF16 decode, inspect --stats, quantizers) beside memcpy
#   make fixtures   regenerate the committed fixture files with the Python writers
#   make model      download the real test model (cached in .cache/) and print its path

SWIFT ?= swift
# Tests build in release mode: the numeric tests (kernels against oracles, forward pass) are
# many times faster optimised, which more than pays for the longer compile.
TEST_CONFIG ?= release
PYTHON ?= $(shell test -x .cache/venv/bin/python && echo .cache/venv/bin/python || echo python3)
LOWBIT ?= $(CURDIR)/.build/release/lowbit
export LOWBIT

.PHONY: build test swift-test interop demo bench fixtures model clean

build:
	$(SWIFT) build -c release

swift-test:
	$(SWIFT) test -c $(TEST_CONFIG)

interop: build
	$(PYTHON) -m pytest -q tests/interop

test: build swift-test interop

demo: build
	$(LOWBIT) inspect "$$(scripts/fetch-model.sh)" --stats

bench:
	$(SWIFT) run -c release lowbit-bench

fixtures:
	PYTHON=$(PYTHON) fixtures/make_fixtures.sh

model:
	@scripts/fetch-model.sh

clean:
	rm -rf .build
