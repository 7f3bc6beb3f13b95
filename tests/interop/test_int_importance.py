"""`lowbit convert --imatrix FILE` and `--calibration TEXT` for INT4 compressed-tensors.

The real SmolLM2 model is converted to a BF16 Hugging Face directory, then to `--type int4`
(symmetric, g128 falling back to g64 on the 576-wide rows) with and without an importance matrix
written here with gguf-py's GGUFWriter in llama.cpp's GGUF layout (entries by GGUF name). The
outputs are read with a safetensors reader written here (header JSON, raw little-endian bytes,
BF16 widened by hand, INT4 nibbles unpacked as compressed-tensors packs them), independent of
Lowbit. Checked:

- a weight with an entry gets other scales than round to nearest, and its error weighted as
  llama.cpp weights its legacy quants (w = qw * sqrt(sigma2 + x^2)), computed here in float64,
  is lower; a weight without an entry is byte-identical to round to nearest;
- `--calibration TEXT` gives the same bytes as `--imatrix` with the file `lowbit imatrix` writes
  from the same text, context and chunk count.
"""

import json
import pathlib
import struct
import subprocess

import numpy as np
import pytest

from gguf import GGUFWriter
from oracles import smollm2_or_skip
from test_eval import cache_dir, text_path  # noqa: F401  (fixtures)

WEIGHTED = {"blk.0.ffn_down.weight": "model.layers.0.mlp.down_proj",
            "blk.3.attn_q.weight": "model.layers.3.self_attn.q_proj"}
UNWEIGHTED = "model.layers.1.mlp.down_proj"


def read_safetensors(directory: pathlib.Path) -> dict[str, np.ndarray]:
    """Every tensor of a directory's safetensors files (BF16 widened to float32)."""
    out = {}
    for path in sorted(directory.glob("*.safetensors")):
        raw = path.read_bytes()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            data = raw[8 + n + begin:8 + n + end]
            dtype = info["dtype"]
            if dtype == "BF16":
                a = (np.frombuffer(data, "<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                a = np.frombuffer(data, {"F32": "<f4", "I32": "<i4", "I64": "<i8", "F16": "<f2"}[dtype])
            out[name] = a.reshape(info["shape"])
    return out


def dequantize_int4(tensors: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    """compressed-tensors pack-quantized INT4, symmetric: code i of a row in bits 4*(i%8) of word
    i//8, value (code - 8) * scale of its group."""
    words = tensors[prefix + ".weight_packed"].astype(np.uint32)
    scales = tensors[prefix + ".weight_scale"].astype(np.float64)
    rows = words.shape[0]
    codes = np.stack([(words >> (4 * k)) & 0xF for k in range(8)], axis=-1).reshape(rows, -1)
    group = codes.shape[1] // scales.shape[1]
    return (codes.astype(np.float64) - 8) * np.repeat(scales, group, axis=1)


def weighted_error(x: np.ndarray, deq: np.ndarray, importance: np.ndarray) -> float:
    x = x.astype(np.float64)
    w = importance.astype(np.float64) * np.sqrt(np.mean(x * x, axis=1, keepdims=True) + x * x)
    return float(np.sum(w * (x - deq) ** 2))


def write_imatrix(path: pathlib.Path, vectors: dict[str, np.ndarray], count: int = 1024) -> None:
    w = GGUFWriter(str(path), arch="llama")
    w.add_type("imatrix")
    w.add_array("imatrix.datasets", ["test.txt"])
    w.add_uint32("imatrix.chunk_count", 2)
    w.add_uint32("imatrix.chunk_size", 512)
    for name in sorted(vectors):
        w.add_tensor(name + ".in_sum2", (vectors[name] * count).astype(np.float32).reshape(1, -1))
        w.add_tensor(name + ".counts", np.array([[count]], np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module")
def hf(lowbit_convert, tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("int-importance") / "bf16"
    subprocess.run([lowbit_convert, "convert", smollm2_or_skip(), "-o", str(out), "--type", "bf16"], check=True,
                   capture_output=True, timeout=1200)
    return out


def convert(lowbit_convert, src, out, *extra):
    subprocess.run([lowbit_convert, "convert", str(src), "-o", str(out), "--type", "int4", *extra], check=True,
                   capture_output=True, timeout=1200)
    return read_safetensors(out)


def test_imatrix_weights_the_int4_scales(lowbit_convert, hf, tmp_path):
    source = read_safetensors(hf)
    rng = np.random.default_rng(11)
    vectors = {name: (rng.gamma(0.6, 2.0, source[hf_name + ".weight"].shape[1]) + 1e-3).astype(np.float32)
               for name, hf_name in WEIGHTED.items()}
    imatrix = tmp_path / "imatrix.gguf"
    write_imatrix(imatrix, vectors)
    plain = convert(lowbit_convert, hf, tmp_path / "rtn")
    weighted = convert(lowbit_convert, hf, tmp_path / "weighted", "--imatrix", str(imatrix))
    for name, prefix in WEIGHTED.items():
        x = source[prefix + ".weight"]
        assert not np.array_equal(plain[prefix + ".weight_scale"], weighted[prefix + ".weight_scale"]), prefix
        e_plain = weighted_error(x, dequantize_int4(plain, prefix), vectors[name])
        e_weighted = weighted_error(x, dequantize_int4(weighted, prefix), vectors[name])
        assert e_weighted < 0.9 * e_plain, (prefix, e_weighted, e_plain)
    for part in (".weight_packed", ".weight_scale"):
        assert np.array_equal(plain[UNWEIGHTED + part], weighted[UNWEIGHTED + part])


def test_calibration_equals_imatrix_from_the_same_text(lowbit_convert, hf, text_path, tmp_path):  # noqa: F811
    imatrix = tmp_path / "calib.imatrix"
    subprocess.run([lowbit_convert, "imatrix", str(hf), "--text", text_path, "--ctx", "128", "--chunks", "2",
                    "-o", str(imatrix)], check=True, capture_output=True, timeout=1200)
    from_file = tmp_path / "from-file"
    in_run = tmp_path / "in-run"
    a = convert(lowbit_convert, hf, from_file, "--imatrix", str(imatrix))
    b = convert(lowbit_convert, hf, in_run, "--calibration", text_path, "--calibration-ctx", "128",
                "--calibration-chunks", "2")
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), name
    plain = convert(lowbit_convert, hf, tmp_path / "rtn")
    changed = [n for n in a if n.endswith(".weight_scale") and not np.array_equal(a[n], plain[n])]
    assert len(changed) == 30 * 7, changed[:5]  # every decoder linear weight of the 30 layers
