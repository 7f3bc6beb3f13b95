"""K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) and the non-linear IQ4 types (IQ4_NL, IQ4_XS) against
llama.cpp's own quantizer and gguf-py.

- The committed fixtures under fixtures/kquants/ (which the Swift tests compare with bit for bit)
  are exactly what make_kquant_fixtures.py produces with the installed llama-cpp-python and gguf.
- `lowbit convert IN.gguf -o OUT.gguf --type T` on a GGUF of random F32 matrices (rows that are
  multiples of 256: normal, heavy-tailed, sparse, tiny, with outliers, and real SmolLM2 weights
  when the model is present): every tensor Lowbit writes as T holds the bytes that
  `ggml_quantize_chunk` (libggml-base from llama-cpp-python 0.3.36, no importance matrix) produces
  from the same floats, and gguf-py dequantizes them. Skipped while `lowbit convert` is not built
  or llama-cpp-python is not installed.
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "fixtures" / "kquants"
sys.path.insert(0, str(FIXTURES))

CLI_TYPES = {"q2_k": T.Q2_K, "q3_k": T.Q3_K, "q4_k": T.Q4_K, "q5_k": T.Q5_K, "q6_k": T.Q6_K,
             "iq4_nl": T.IQ4_NL, "iq4_xs": T.IQ4_XS}


@pytest.fixture(scope="module")
def ggml():
    pytest.importorskip("llama_cpp")
    from make_kquant_fixtures import load_ggml
    return load_ggml()


@pytest.fixture(scope="module")
def lowbit_convert() -> str:
    path = os.environ.get("LOWBIT") or str(REPO_ROOT / ".build" / "release" / "lowbit")
    if not os.access(path, os.X_OK):
        pytest.skip(f"lowbit binary not found at {path}")
    probe = subprocess.run([path, "convert", "--help"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip("this lowbit has no convert subcommand yet")
    return path


def test_committed_fixtures_are_reproducible(ggml, tmp_path):
    """Re-running the generator gives byte-identical fixture files."""
    import make_kquant_fixtures as gen

    inputs, _ = gen.make_inputs(os.environ.get("LOWBIT_SMOLLM2", "/tmp/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    committed = np.fromfile(FIXTURES / "input.f32", dtype="<f4").reshape(-1, gen.COLS)
    if inputs.shape != committed.shape:
        pytest.skip("the SmolLM2 rows of the fixtures need the model (set LOWBIT_SMOLLM2)")
    assert np.array_equal(inputs.view(np.uint32), committed.view(np.uint32))
    importance = np.fromfile(FIXTURES / "importance.f32", dtype="<f4")
    for name, (qtype, block_bytes, block_size, _) in gen.TYPES.items():
        quant = gen.ggml_quantize(ggml, qtype, committed, block_bytes, block_size)
        assert quant == (FIXTURES / f"{name}.quant").read_bytes(), name
        weighted = gen.ggml_quantize(ggml, qtype, committed, block_bytes, block_size, importance)
        assert weighted == (FIXTURES / f"{name}.imatrix.quant").read_bytes(), name
        deq = dequantize(np.frombuffer(quant, dtype=np.uint8).reshape(committed.shape[0], -1), qtype)
        assert deq.astype("<f4").tobytes() == (FIXTURES / f"{name}.dequant.f32").read_bytes(), name


def random_matrices(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mats = {
        "normal": rng.standard_normal((24, 1024)) * 0.02,
        "student_t3": rng.standard_t(3, (16, 768)) * 0.05,
        "cauchy": rng.standard_t(1, (8, 512)),
        "sparse": rng.standard_normal((8, 1536)) * (rng.uniform(size=(8, 1536)) < 0.05),
        "tiny": rng.standard_normal((4, 512)) * 1e-6,
        "wide_range": rng.standard_normal((4, 2048)) * np.exp(rng.uniform(-8, 3, (4, 1))),
    }
    outliers = rng.standard_normal((8, 512)) * 0.01
    outliers[np.arange(8), rng.integers(0, 512, 8)] = rng.choice([-60.0, 40.0], 8)
    mats["outliers"] = outliers
    mats["zero_blocks"] = np.where(np.repeat(rng.uniform(size=(8, 4)) < 0.5, 256, axis=1), 0.0,
                                   rng.standard_normal((8, 1024)))
    model = os.environ.get("LOWBIT_SMOLLM2", "/tmp/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    if os.path.isfile(model):
        reader = GGUFReader(model)
        for t in reader.tensors:
            if t.name in ("blk.0.ffn_down.weight", "blk.5.ffn_down.weight"):
                mats[t.name.replace(".", "_")] = dequantize(t.data, t.tensor_type)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in mats.items()}


@pytest.fixture(scope="module")
def random_gguf(tmp_path_factory):
    mats = random_matrices(20261122)
    path = tmp_path_factory.mktemp("kquants") / "random-f32.gguf"
    writer = GGUFWriter(str(path), "llama")
    for name, m in mats.items():
        writer.add_tensor(f"{name}.weight", m)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path, mats


@pytest.mark.parametrize("cli_type", list(CLI_TYPES))
def test_convert_matches_ggml(cli_type, ggml, lowbit_convert, random_gguf, tmp_path):
    from make_kquant_fixtures import TYPES, ggml_quantize

    src, mats = random_gguf
    out = tmp_path / f"out-{cli_type}.gguf"
    proc = subprocess.run([lowbit_convert, "convert", str(src), "-o", str(out), "--type", cli_type],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 and "unknown" in proc.stderr.lower() and cli_type in proc.stderr.lower():
        pytest.skip(f"this lowbit does not offer --type {cli_type}")
    assert proc.returncode == 0, proc.stderr
    qtype = CLI_TYPES[cli_type]
    _, block_bytes, block_size, _ = TYPES[qtype.name]
    reader = GGUFReader(str(out))
    by_name = {t.name: t for t in reader.tensors}
    checked = 0
    for name, m in mats.items():
        tensor = by_name[f"{name}.weight"]
        assert tensor.tensor_type == qtype, f"{name}: written as {tensor.tensor_type.name}"
        want = ggml_quantize(ggml, qtype, m, block_bytes, block_size)
        got = bytes(np.asarray(tensor.data, dtype=np.uint8).reshape(-1))
        if got != want:
            rows = m.shape[0]
            g = np.frombuffer(got, np.uint8).reshape(rows, -1)
            w = np.frombuffer(want, np.uint8).reshape(rows, -1)
            bad = int((g != w).any(axis=1).sum())
            pytest.fail(f"{cli_type} {name}: {bad}/{rows} rows differ from ggml_quantize_chunk")
        deq = dequantize(np.asarray(tensor.data), qtype).reshape(m.shape)
        assert np.all(np.isfinite(deq))
        checked += 1
    assert checked == len(mats)
