#!/usr/bin/env bash
# Installs what building and testing Lowbit needs on Debian/Ubuntu:
#   system: libzstd-dev, libopenblas-dev, pkg-config (SwiftPM's system libraries), a C/C++
#           compiler and make, python3 with pip and venv;
#   Python: scripts/requirements.txt (gguf, safetensors, ml-dtypes, numpy, tokenizers,
#           sentencepiece, transformers, pytest: the interop suite's independent readers and
#           writers, and the fixture generators') and, with `--oracles`,
#           scripts/requirements-oracles.txt (llama-cpp-python: llama.cpp's quantizer and forward
#           pass as oracles; it compiles for 5-8 minutes the first time, then comes from pip's
#           wheel cache).
# Every Python package is pinned exactly: the requirement files name the top-level packages, and
# scripts/constraints.txt locks the whole dependency closure, including the build dependencies
# (scikit-build-core, cmake, ninja, ...) that pip's build isolation installs to compile
# llama-cpp-python. PIP_CONSTRAINT (and PIP_BUILD_CONSTRAINT for pip >= 25.3) point at it, so the
# isolated build environment is pinned as well. tests/interop/test_pinned_requirements.py checks
# the pins and that the installed packages match them.
# The Swift toolchain (6.0 or later) must already be on PATH.
# If the system Python is "externally managed" (PEP 668), the Python packages go into a virtual
# environment at .cache/venv, which the Makefile picks up.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
oracles=0
[[ "${1:-}" == "--oracles" ]] && oracles=1

if ! command -v swift >/dev/null; then
    echo "install-deps: the Swift toolchain (swift 6.0+) is not on PATH; see https://www.swift.org/install/linux/" >&2
    exit 1
fi

sudo=""
if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
packages=(libzstd-dev libopenblas-dev pkg-config python3-pip python3-venv unzip make g++)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )) || [[ "${LOWBIT_APT_UPDATE:-0}" == 1 ]]; then
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}"
fi

python="python3"
if python3 -c 'import os, sys, sysconfig; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'; then
    [[ -x "$repo/.cache/venv/bin/python" ]] || python3 -m venv "$repo/.cache/venv"
    python="$repo/.cache/venv/bin/python"
fi

# The constraints apply to every pip run below, and (through the environment) to the pip that
# installs a build's isolated environment. pip keeps downloaded and built wheels in its cache
# (~/.cache/pip), so repeated runs are quick.
export PIP_CONSTRAINT="$repo/scripts/constraints.txt"
export PIP_BUILD_CONSTRAINT="$repo/scripts/constraints.txt"
export PIP_ROOT_USER_ACTION=ignore
if (( oracles )); then
    "$python" -m pip install --quiet -r "$repo/scripts/requirements.txt" -r "$repo/scripts/requirements-oracles.txt"
else
    "$python" -m pip install --quiet -r "$repo/scripts/requirements.txt"
fi
