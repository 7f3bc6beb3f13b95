#!/usr/bin/env bash
# Installs what building and testing Lowbit needs on Debian/Ubuntu:
#   system: libzstd-dev, libopenblas-dev, pkg-config (SwiftPM's system libraries), a C/C++
#           compiler and make, python3 with pip and venv;
#   Python: gguf, safetensors, ml-dtypes, numpy, tokenizers, pytest (the interop suite's
#           independent readers and writers) and, with `--oracles`, llama-cpp-python==0.3.36
#           (llama.cpp's quantizer and forward pass as oracles; compiles for ~4 minutes the
#           first time, then comes from pip's wheel cache).
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

pip_packages=(gguf safetensors ml-dtypes numpy tokenizers sentencepiece==0.2.0 transformers==5.23.0 pytest)
(( oracles )) && pip_packages+=("llama-cpp-python==0.3.36")
# pip keeps downloaded and built wheels in its cache (~/.cache/pip), so repeated runs are quick.
PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet "${pip_packages[@]}"
