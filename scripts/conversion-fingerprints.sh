#!/usr/bin/env bash
# Converts the real test model to every type and layout `lowbit convert` writes and prints the
# sha256 of every output file, one line each, sorted: run it before and after a refactor and
# diff the two listings to hold the change to byte-identical outputs (tensor bytes, metadata,
# config and tokenizer files).
#
# Usage: scripts/conversion-fingerprints.sh WORKDIR > fingerprints.txt
#   LOWBIT (default .build/release/lowbit) is the binary under test. WORKDIR is emptied first.
# The real model (SmolLM2-135M Q4_1 GGUF) is first converted to f16 and bf16 Hugging Face
# directories; the quantized outputs are made from the bf16 directory (the user's journey) and
# two of them also straight from the GGUF.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:?usage: $0 WORKDIR}"
lowbit="${LOWBIT:-$repo/.build/release/lowbit}"
model="$("$repo/scripts/fetch-model.sh")"
rm -rf "$work"
mkdir -p "$work"

convert() { "$lowbit" convert "$@" >/dev/null; }
convert "$model" -o "$work/bf16" --type bf16
convert "$model" -o "$work/f16" --type f16
hf="$work/bf16"
for t in q8_0 q4_0 q3_k q4_k_m q6_k iq4_xs; do convert "$hf" -o "$work/$t.gguf" --type "$t"; done
for t in fp8 int8 int4 fp8-405b; do convert "$hf" -o "$work/ct-$t" --type "$t"; done
convert "$hf" -o "$work/ct-fp8-block" --type fp8 --fp8-granularity block
convert "$hf" -o "$work/mlx-int4" --type int4 --layout mlx
convert "$hf" -o "$work/ct-int4-asym-g32" --type int4 --asym --group-size 32
convert "$model" -o "$work/gguf-q4_k_m.gguf" --type q4_k_m
convert "$model" -o "$work/gguf-int4" --type int4
(cd "$work" && find . -type f | sort | xargs sha256sum)
