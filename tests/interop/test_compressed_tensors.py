"""compressed-tensors and MLX safetensors layouts: Lowbit's output read back by the `safetensors`
package and checked against independent numpy reimplementations (fixtures/ctq/make_fixtures.py,
written from compressed-tensors 0.20 and MLX 0.32; MLX itself is used when installed).

torch (and so compressed-tensors itself) is not required: its arithmetic is emulated with
ml_dtypes (see the fixture script).
"""

import json

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from oracles import ctq_oracle


@pytest.fixture(scope="module")
def oracle():
    return ctq_oracle()


def test_committed_fixture_is_reproducible(oracle, repo_root):
    committed = load_file(str(repo_root / "fixtures" / "ctq" / "ctq_fixtures.safetensors"))
    fresh = oracle.build()
    assert sorted(committed) == sorted(fresh)
    for name, value in fresh.items():
        assert np.array_equal(committed[name], value), name


ROWS, COLS = 64, 256
LINEAR = "model.layers.0.mlp.down_proj"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small BF16 checkpoint with one decoder linear weight, an embedding and a norm."""
    rng = np.random.default_rng(5)
    w = (rng.standard_t(4, size=(ROWS, COLS)) * 0.03).astype(ml_dtypes.bfloat16)
    w[7, :] = 0                                     # an all-zero row
    tensors = {
        f"{LINEAR}.weight": w,
        "model.embed_tokens.weight": (rng.standard_normal((32, COLS)) * 0.02).astype(ml_dtypes.bfloat16),
        "model.norm.weight": np.ones(COLS, ml_dtypes.bfloat16),
    }
    path = tmp_path_factory.mktemp("ctq") / "in.safetensors"
    save_file(tensors, str(path))
    return path, w.astype(np.float32)


def read_raw(path):
    """name -> (dtype, shape, bytes), straight from the safetensors header (the numpy backend
    of `safetensors` cannot load F8 tensors)."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    return {k: (v["dtype"], v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}


def convert(run_lowbit, tmp_path, source, *args):
    out = tmp_path / "out.safetensors"
    run_lowbit("convert", source, "-o", out, *args)
    return load_file(str(out)), out


def unpack_rows(words, bits, cols):
    """Little-endian bit stream per row (compressed-tensors unpack_from_int32 / MLX)."""
    words = words.view(np.uint32).astype(np.uint64)
    out = np.zeros((words.shape[0], cols), np.int64)
    for i in range(cols):
        w, off = divmod(i * bits, 32)
        v = words[:, w] >> np.uint64(off)
        if off + bits > 32:
            v |= words[:, w + 1] << np.uint64(32 - off)
        out[:, i] = (v & np.uint64((1 << bits) - 1)).astype(np.int64)
    return out


@pytest.mark.parametrize("bits,type_name", [(4, "int4"), (8, "int8")])
def test_pack_quantized_int(run_lowbit, tmp_path, checkpoint, oracle, bits, type_name):
    source, x = checkpoint
    t, _ = convert(run_lowbit, tmp_path, source, "--type", type_name, "--group-size", "128")
    packed, scale, shape = t[f"{LINEAR}.weight_packed"], t[f"{LINEAR}.weight_scale"], t[f"{LINEAR}.weight_shape"]
    assert f"{LINEAR}.weight" not in t
    assert packed.dtype == np.int32 and packed.shape == (ROWS, COLS * bits // 32)
    assert shape.dtype == np.int64 and list(shape) == [ROWS, COLS]
    assert scale.shape == (ROWS, COLS // 128)
    # Embeddings and norms stay as they are (vLLM quantizes Linear layers only).
    assert t["model.embed_tokens.weight"].dtype == ml_dtypes.bfloat16
    assert t["model.norm.weight"].dtype == ml_dtypes.bfloat16
    # Scales and codes are compressed-tensors' (F32 or BF16 intermediate arithmetic).
    fmt = "f32" if scale.dtype == np.float32 else "bf16"
    matches = []
    for arithmetic in ("f32", "bf16"):
        want_packed, want_scale, _, _, _ = oracle.ct_quantize(x, bits, 128, True, arithmetic, fmt)
        want_scale = want_scale.astype(scale.dtype)
        matches.append(np.array_equal(scale, want_scale) and np.array_equal(packed.view(np.uint32), want_packed))
    assert any(matches), "weight_packed / weight_scale differ from compressed-tensors"
    # Decoding the file gives the weights back within half a step (plus the rounding of the
    # stored scale, which can push the largest value just past the clamp).
    q = unpack_rows(packed, bits, COLS) - (1 << (bits - 1))
    s = np.repeat(scale.astype(np.float32), 128, axis=1)
    assert np.all(np.abs(q * s - x) <= s * 0.5 + np.abs(x) * 2.0 ** -7 + 1e-12)
    assert np.all(q[7] == 0)


def test_pack_quantized_asymmetric_zero_points(run_lowbit, tmp_path, checkpoint, oracle):
    source, x = checkpoint
    t, _ = convert(run_lowbit, tmp_path, source, "--type", "int4", "--group-size", "64", "--asym")
    zp = t[f"{LINEAR}.weight_zero_point"]
    assert zp.dtype == np.int32 and zp.shape == (ROWS * 4 // 32, COLS // 64)
    zero_points = unpack_rows(zp.T.copy(), 4, ROWS).T - 8
    q = unpack_rows(t[f"{LINEAR}.weight_packed"], 4, COLS) - 8
    s = np.repeat(t[f"{LINEAR}.weight_scale"].astype(np.float32), 64, axis=1)
    deq = (q - np.repeat(zero_points, 64, axis=1)) * s
    assert np.all(np.abs(deq - x) <= s * 1.0 + np.abs(x) * 2.0 ** -7 + 1e-12)


@pytest.mark.parametrize("granularity", ["row", "block", "tensor"])
def test_fp8(run_lowbit, tmp_path, checkpoint, oracle, granularity):
    source, x = checkpoint
    out = tmp_path / "out.safetensors"
    run_lowbit("convert", source, "-o", out, "--type", "fp8", "--fp8-granularity", granularity)
    t = read_raw(out)
    dtype, shape, raw = t[f"{LINEAR}.weight"]
    assert dtype == "F8_E4M3" and shape == [ROWS, COLS]
    w = np.frombuffer(raw, np.uint8).reshape(ROWS, COLS).view(ml_dtypes.float8_e4m3fn)
    scale_dtype, scale_shape, scale_raw = t[f"{LINEAR}.weight_scale"]
    assert scale_shape == {"row": [ROWS, 1], "block": [1, 2], "tensor": [1]}[granularity]
    fmt = {"F32": "f32", "BF16": "bf16"}[scale_dtype]
    scale = np.frombuffer(scale_raw, np.float32 if fmt == "f32" else ml_dtypes.bfloat16).reshape(scale_shape)
    matches = []
    for arithmetic in ("f32", "bf16"):
        codes, want = oracle.fp8_quantize(x, "e4m3", granularity, fmt, arithmetic)
        matches.append(np.array_equal(w.view(np.uint8), codes) and
                       np.array_equal(scale.astype(np.float32).reshape(want.shape), want))
    assert any(matches), "FP8 codes / scales differ from the numpy + ml_dtypes oracle"
    assert np.all(np.isfinite(w.astype(np.float32)))


def test_mlx_layout(run_lowbit, tmp_path, checkpoint, oracle):
    source, x = checkpoint
    t, out = convert(run_lowbit, tmp_path, source, "--type", "int4", "--layout", "mlx")
    w, scales, biases = t[f"{LINEAR}.weight"], t[f"{LINEAR}.scales"], t[f"{LINEAR}.biases"]
    assert w.dtype == np.uint32 and w.shape == (ROWS, COLS * 4 // 32)
    fmt = "f32" if scales.dtype == np.float32 else "bf16"
    packed, want_scale, want_bias, _ = oracle.mlx_quantize(x, 4, 64, fmt)
    assert np.array_equal(w, packed)
    assert np.array_equal(scales.astype(np.float32), want_scale)
    assert np.array_equal(biases.astype(np.float32), want_bias)
    try:
        import mlx.core as mx
    except ImportError:
        return
    loaded = mx.load(str(out))
    deq = mx.dequantize(loaded[f"{LINEAR}.weight"], loaded[f"{LINEAR}.scales"], loaded[f"{LINEAR}.biases"],
                        group_size=64, bits=4)
    step = np.repeat(np.abs(want_scale), 64, axis=1)
    # MLX dequantizes in BF16: one step plus the rounding of scale, bias and result.
    assert np.all(np.abs(np.array(deq.astype(mx.float32)) - x) <= step * 1.0 + np.abs(x) * 2.0 ** -6 + 1e-6)
