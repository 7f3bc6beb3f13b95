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

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize
from oracles import find_smollm2

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "fixtures" / "kquants"
sys.path.insert(0, str(FIXTURES))

CLI_TYPES = {"q2_k": T.Q2_K, "q3_k": T.Q3_K, "q4_k": T.Q4_K, "q5_k": T.Q5_K, "q6_k": T.Q6_K,
             "iq4_nl": T.IQ4_NL, "iq4_xs": T.IQ4_XS}


def test_committed_fixtures_are_reproducible(ggml, tmp_path):
    """Re-running the generator gives byte-identical fixture files."""
    import make_kquant_fixtures as gen

    inputs, _ = gen.make_inputs(find_smollm2())
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
    for name, (qtype, block_bytes, block_size) in gen.LEGACY_WEIGHTED.items():
        quant = gen.ggml_quantize(ggml, qtype, committed, block_bytes, block_size)
        assert quant == (FIXTURES / f"{name}.quant").read_bytes(), name
        weighted = gen.ggml_quantize(ggml, qtype, committed, block_bytes, block_size, importance)
        assert weighted == (FIXTURES / f"{name}.imatrix.quant").read_bytes(), name


EMBED, FFN, VOCAB = 512, 1024, 256


def random_matrices(seed: int) -> dict[str, np.ndarray]:
    """A one-layer Llama whose matrices hold the test distributions (numpy shapes: rows x row
    length; every row length a multiple of 256)."""
    rng = np.random.default_rng(seed)

    def heavy(shape):
        m = rng.standard_t(3, shape) * 0.05
        m[: shape[0] // 8] = rng.standard_t(1, (shape[0] // 8, shape[1]))  # Cauchy rows
        return m

    def mixed(shape):
        m = rng.standard_normal(shape) * 0.01
        rows = shape[0]
        m[np.arange(rows), rng.integers(0, shape[1], rows)] = rng.choice([-60.0, 40.0], rows)  # outliers
        m[: rows // 4] *= rng.uniform(size=(rows // 4, shape[1])) < 0.05  # sparse rows
        m[rows // 4: rows // 2] *= 1e-4  # tiny rows
        m[rows // 2: rows // 2 + 8] = np.exp(rng.uniform(-8, 3, (8, 1))) * rng.standard_normal((8, shape[1]))
        blocks = np.repeat(rng.uniform(size=(rows, shape[1] // 256)) < 0.2, 256, axis=1)
        m[blocks] = 0.0  # whole zero blocks
        return m

    mats = {
        "token_embd.weight": rng.standard_normal((VOCAB, EMBED)) * 0.02,
        "blk.0.attn_q.weight": rng.standard_normal((EMBED, EMBED)) * 0.02,
        "blk.0.attn_k.weight": heavy((EMBED, EMBED)),
        "blk.0.attn_v.weight": mixed((EMBED, EMBED)),
        "blk.0.attn_output.weight": rng.uniform(-1, 1, (EMBED, EMBED)),
        "blk.0.ffn_gate.weight": mixed((FFN, EMBED)),
        "blk.0.ffn_up.weight": heavy((FFN, EMBED)),
        "blk.0.ffn_down.weight": rng.standard_normal((EMBED, FFN)) * 0.02,
    }
    model = find_smollm2()
    if model is not None:  # real weights, reshaped to this model's ffn_down
        tensor = next(t for t in GGUFReader(model).tensors if t.name == "blk.0.ffn_down.weight")
        real = dequantize(tensor.data, tensor.tensor_type).reshape(-1)[: EMBED * FFN]
        mats["blk.0.ffn_down.weight"] = real.reshape(EMBED, FFN)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in mats.items()}


@pytest.fixture(scope="module")
def random_gguf(tmp_path_factory):
    mats = random_matrices(20261122)
    path = tmp_path_factory.mktemp("kquants") / "random-f32.gguf"
    writer = GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_context_length(128)
    writer.add_embedding_length(EMBED)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(8)
    writer.add_head_count_kv(8)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"t{i}" for i in range(VOCAB)])
    for name, m in mats.items():
        writer.add_tensor(name, m)
    for norm in ("blk.0.attn_norm.weight", "blk.0.ffn_norm.weight", "output_norm.weight"):
        writer.add_tensor(norm, np.ones(EMBED, dtype=np.float32))
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
    reader = GGUFReader(str(out))
    by_name = {t.name: t for t in reader.tensors}
    by_type = {spec[0]: (name, spec) for name, spec in TYPES.items()}
    checked, as_requested = 0, 0
    for name, m in mats.items():
        tensor = by_name[name]
        written = tensor.tensor_type
        # Lowbit follows llama.cpp's type policy (e.g. Q2_K files keep attn_v in Q3_K); every
        # tensor written in one of these types must match ggml for that type.
        if written not in by_type:
            assert not name.startswith("blk."), f"{name}: written as {written.name}"
            continue
        _, (_, block_bytes, block_size, _) = by_type[written]
        want = ggml_quantize(ggml, written, m, block_bytes, block_size)
        got = bytes(np.asarray(tensor.data, dtype=np.uint8).reshape(-1))
        if got != want:
            rows = m.shape[0]
            g = np.frombuffer(got, np.uint8).reshape(rows, -1)
            w = np.frombuffer(want, np.uint8).reshape(rows, -1)
            bad = int((g != w).any(axis=1).sum())
            pytest.fail(f"{cli_type} {name} ({written.name}): {bad}/{rows} rows differ from ggml_quantize_chunk")
        deq = dequantize(np.asarray(tensor.data), written).reshape(m.shape)
        assert np.all(np.isfinite(deq))
        checked += 1
        as_requested += written == qtype
    assert checked >= len(mats) - 1
    assert as_requested >= len(mats) // 2, f"only {as_requested} tensors were written as {qtype.name}"
