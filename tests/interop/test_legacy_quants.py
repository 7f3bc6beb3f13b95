"""GGUF legacy block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) and the float element casts against
their oracles: gguf-py's `gguf.quants` (normative for the block types) and ml_dtypes.

- The committed fixtures under fixtures/quant/ (which the Swift tests compare with bit for bit)
  are exactly what the generator scripts produce with the installed gguf / ml_dtypes.
- `lowbit convert MODEL.gguf -o OUT.gguf --type T` on the real SmolLM2 model (Q4_1 + Q8_0
  tensors): every tensor Lowbit writes as T holds the bytes gguf-py produces by dequantizing the
  source tensor and quantizing it as T. Skipped while `lowbit convert` is not built, or when
  the model is absent (env LOWBIT_SMOLLM2 or LOWBIT_MODEL, default /tmp/smollm2/).
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, quants
from oracles import find_smollm2, smollm2_or_skip

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "fixtures" / "quant"
LEGACY = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1"]


@pytest.fixture(scope="module")
def smollm2() -> str:
    return smollm2_or_skip()


@pytest.mark.parametrize("script", ["make_legacy_fixtures.py", "make_float_fixtures.py"])
def test_committed_fixtures_are_what_the_scripts_write(script, tmp_path):
    env = dict(os.environ)
    if script == "make_legacy_fixtures.py":
        # The committed legacy fixture includes rows of the real model.
        model = find_smollm2()
        if model is None:
            pytest.skip("the SmolLM2 model is needed to regenerate the legacy fixture")
        env["LOWBIT_SMOLLM2"] = model
    subprocess.run([sys.executable, str(FIXTURES / script), "--out", str(tmp_path)], check=True, env=env,
                   capture_output=True, timeout=600)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written, "the script wrote nothing"
    for name in written:
        committed = FIXTURES / name
        assert committed.exists(), f"{name} is not committed"
        assert committed.read_bytes() == (tmp_path / name).read_bytes(), \
            f"{name} differs from what {script} writes now"


def test_fixture_dequantization_round_trips_through_gguf_py():
    """The dequantized fixtures are gguf-py's dequantization of the quantized fixtures."""
    for t in (T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1):
        blocks = np.fromfile(FIXTURES / f"legacy_{t.name}.bin", dtype=np.uint8)
        want = np.fromfile(FIXTURES / f"legacy_{t.name}.dequant.f32", dtype="<f4")
        with np.errstate(all="ignore"):  # the fixture's subnormal and huge blocks
            got = quants.dequantize(blocks, t).ravel()
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)) or \
            np.array_equal(got, want, equal_nan=True), t.name


@pytest.mark.parametrize("type_name", LEGACY)
def test_convert_requantizes_smollm2_like_gguf_py(type_name, smollm2, lowbit_convert, tmp_path):
    out = tmp_path / f"out-{type_name}.gguf"
    proc = subprocess.run([lowbit_convert, "convert", smollm2, "-o", str(out), "--type", type_name],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    target = T[type_name.upper()]
    source = {t.name: t for t in GGUFReader(smollm2).tensors}
    converted = kept = 0
    for t in GGUFReader(str(out)).tensors:
        src = source[t.name]
        got = np.asarray(t.data).view(np.uint8).ravel()
        if t.tensor_type != target:
            continue
        stored = np.asarray(src.data).view(np.uint8).ravel()
        if src.tensor_type == target and np.array_equal(got, stored):
            kept += 1  # kept as stored: already of the target type (Q4_1 in this model)
            continue
        values = quants.dequantize(np.asarray(src.data), src.tensor_type) if src.tensor_type != T.F32 \
            else np.asarray(src.data, dtype=np.float32)
        want = quants.quantize(values.astype(np.float32), target).view(np.uint8).ravel()
        assert got.tobytes() == want.tobytes(), f"{t.name}: bytes differ from gguf-py's {type_name}"
        converted += 1
    assert converted + kept > 0, f"no tensor was written as {type_name}"
