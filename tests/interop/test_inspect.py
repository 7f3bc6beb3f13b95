"""`lowbit inspect` against independent readers: gguf-py's GGUFReader and the `safetensors`
package (plus the safetensors header parsed with Python's json), and `--stats` against numpy."""

import json
import os
import struct

import ml_dtypes
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

import gguf
from gguf import GGUFReader, GGUFValueType, GGUFWriter

EXACT_INT = 2**53


# ---------------------------------------------------------------------------- helpers

def flatten(values):
    for v in values:
        if isinstance(v, list):
            yield from flatten(v)
        else:
            yield v


def assert_metadata_value_equal(key, got, want, vtype, subtype=None, nested=False):
    if vtype == GGUFValueType.ARRAY:
        assert isinstance(got, list), key
        if nested:  # gguf-py's contents() flattens arrays of arrays
            got = list(flatten(got))
        assert len(got) == len(want), key
        for g, w in zip(got, want):
            assert_scalar_equal(key, g, w, subtype)
        return
    assert_scalar_equal(key, got, want, vtype)


def assert_scalar_equal(key, got, want, vtype):
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), key
        for g, w in zip(got, want):
            assert_scalar_equal(key, g, w, None)
        return
    if isinstance(want, bool):
        assert got is want, key
    elif isinstance(want, (int, np.integer)):
        want = int(want)
        if abs(want) > EXACT_INT:
            assert got == str(want), (key, got, want)
        else:
            assert got == want and not isinstance(got, bool), (key, got, want)
    elif isinstance(want, (float, np.floating)):
        if not np.isfinite(want):
            assert got is None, (key, got, want)
        elif vtype == GGUFValueType.FLOAT32:
            assert np.float32(got) == np.float32(want), (key, got, want)
        else:
            assert float(got) == float(want), (key, got, want)
    else:
        assert got == want, (key, got, want)


def reader_listing(path):
    reader = GGUFReader(path)
    return reader, [
        {"name": t.name, "dtype": t.tensor_type.name, "shape": [int(x) for x in t.shape],
         "offset": int(t.data_offset), "nbytes": int(t.n_bytes)}
        for t in reader.tensors
    ]


def check_against_gguf_reader(path, doc):
    reader, listing = reader_listing(path)
    assert doc["format"] == "gguf"
    assert set(doc) == {"format", "metadata", "tensors"}
    got = [{k: t[k] for k in ("name", "dtype", "shape", "offset", "nbytes")} for t in doc["tensors"]]
    assert len(got) == len(listing)
    for g, w in zip(got, listing):
        assert g == w
    for t in doc["tensors"]:
        assert t["file"] == path
    keys = [k for k in reader.fields if not k.startswith("GGUF.")]
    assert list(doc["metadata"]) == keys
    for key in keys:
        field = reader.fields[key]
        want = field.contents()
        sub = field.types[-1] if field.types[0] == GGUFValueType.ARRAY else None
        nested = len(field.types) > 2
        assert_metadata_value_equal(key, doc["metadata"][key], want, field.types[0], sub, nested)


# ---------------------------------------------------------------------------- real model

def test_real_model_matches_gguf_reader(model_path, lowbit_json):
    doc = lowbit_json("inspect", model_path, "--json")
    assert len(doc["tensors"]) == 272
    check_against_gguf_reader(model_path, doc)
    assert doc["metadata"]["general.architecture"] == "llama"
    assert len(doc["metadata"]["tokenizer.ggml.tokens"]) == 49152


def test_real_model_table(model_path, run_lowbit):
    out = run_lowbit("inspect", model_path).stdout
    assert "tokenizer.ggml.tokens = [STRING x 49152]" in out
    assert "Parameters: 134,515,008" in out
    assert "token_embd.weight" in out and "Q8_0" in out
    full = run_lowbit("inspect", model_path, "--full").stdout
    assert "[STRING x 49152]" not in full
    assert len(full) > len(out) + 100_000


def test_real_model_stats_match_numpy(model_path, lowbit_json):
    doc = lowbit_json("inspect", model_path, "--json", "--stats")
    reader = GGUFReader(model_path)
    by_name = {t.name: t for t in reader.tensors}
    checked = {}
    for entry in doc["tensors"]:
        stats = entry["stats"]
        t = by_name[entry["name"]]
        if stats is None:
            continue
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64).ravel()
        check_stats(entry["name"], stats, values)
        checked[entry["dtype"]] = checked.get(entry["dtype"], 0) + 1
    assert checked.get("F32") == 61
    # Quantized types are decoded through the quantization kernels.
    assert checked.get("Q4_1") == 210 and checked.get("Q8_0") == 1, checked


def check_stats(name, stats, values):
    finite = values[np.isfinite(values)]
    assert stats["nan"] == int(np.isnan(values).sum()), name
    assert stats["inf"] == int(np.isinf(values).sum()), name
    if finite.size == 0:
        assert all(stats[k] is None for k in ("min", "max", "mean", "std", "absmax")), name
        return
    assert stats["min"] == finite.min(), name
    assert stats["max"] == finite.max(), name
    assert stats["absmax"] == np.abs(finite).max(), name
    scale = max(float(np.abs(finite).max()), 1e-30)
    assert abs(stats["mean"] - finite.mean()) <= 1e-6 * scale, (name, stats["mean"], finite.mean())
    assert abs(stats["std"] - finite.std()) <= 1e-6 * scale + 1e-6 * finite.std(), (name, stats["std"], finite.std())


# ---------------------------------------------------------------------------- GGUF written by gguf-py

def test_gguf_metadata_types_and_json_rules(tmp_path, lowbit_json, run_lowbit):
    path = str(tmp_path / "kinds.gguf")
    w = GGUFWriter(path, "llama")
    w.add_uint8("t.u8", 255)
    w.add_int8("t.i8", -128)
    w.add_uint16("t.u16", 65535)
    w.add_int16("t.i16", -32768)
    w.add_uint32("t.u32", 4294967295)
    w.add_int32("t.i32", -2147483648)
    w.add_uint64("t.u64.small", 2**53)
    w.add_uint64("t.u64.big", 2**64 - 1)
    w.add_int64("t.i64.big", -(2**63))
    w.add_int64("t.i64.small", -(2**53))
    w.add_float32("t.f32", 0.1)
    w.add_float32("t.f32.nan", float("nan"))
    w.add_float64("t.f64", 1e300)
    w.add_float64("t.f64.inf", float("-inf"))
    w.add_bool("t.bool", True)
    w.add_string("t.str", "line\n\"quoted\" ünïcödé")
    w.add_array("t.arr.i32", list(range(100)))
    w.add_array("t.arr.nested", [[1, 2], [3, 4, 5]])
    w.add_array("t.arr.str", ["a", "b"])
    rng = np.random.default_rng(7)
    a = rng.standard_normal((4, 64)).astype(np.float32)
    a[0, 0], a[1, 1], a[2, 2] = np.nan, np.inf, -np.inf
    w.add_tensor("a", a)
    w.add_tensor("b", rng.standard_normal((2, 32)).astype(np.float16))
    q = gguf.quants.quantize(rng.standard_normal((3, 64)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("q", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    doc = lowbit_json("inspect", path, "--json", "--stats")
    check_against_gguf_reader(path, doc)
    m = doc["metadata"]
    assert m["t.u64.small"] == 2**53
    assert m["t.u64.big"] == str(2**64 - 1)
    assert m["t.i64.big"] == str(-(2**63))
    assert m["t.i64.small"] == -(2**53)
    assert m["t.f32"] == 0.1  # shortest float32 form, not 0.10000000149011612
    assert m["t.f32.nan"] is None and m["t.f64.inf"] is None
    assert m["t.f64"] == 1e300
    assert m["t.str"] == "line\n\"quoted\" ünïcödé"
    assert m["t.arr.nested"] == [[1, 2], [3, 4, 5]]

    stats = {t["name"]: t["stats"] for t in doc["tensors"]}
    check_stats("a", stats["a"], a.astype(np.float64).ravel())
    assert stats["a"]["nan"] == 1 and stats["a"]["inf"] == 2

    # the table summarises long arrays unless --full, and shows nested ones
    table = run_lowbit("inspect", path).stdout
    assert "t.arr.i32 = [INT32 x 100]" in table
    assert "t.arr.nested = [[1, 2], [3, 4, 5]]" in table
    assert "t.u64.big = 18446744073709551615" in table
    full = run_lowbit("inspect", path, "--full").stdout
    assert "t.arr.i32 = [0, 1, 2, 3," in full


def test_filter(model_path, lowbit_json, run_lowbit):
    doc = lowbit_json("inspect", model_path, "--json", "--filter", r"^blk\.1[0-9]?\.attn_q")
    want = {f"blk.{i}.attn_q.weight" for i in [1] + list(range(10, 20))}
    assert sorted(t["name"] for t in doc["tensors"]) == sorted(want)
    assert len(doc["metadata"]) == 33  # metadata is never filtered
    bad = run_lowbit("inspect", model_path, "--filter", "(", check=False)
    assert bad.returncode == 2


# ---------------------------------------------------------------------------- safetensors

def safetensors_listing(path):
    """Tensors as the safetensors package and the raw header (parsed with json) describe them."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    base = 8 + n
    out = {}
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata() or {}
        for name in f.keys():
            sl = f.get_slice(name)
            begin, end = header[name]["data_offsets"]
            out[name] = {"name": name, "dtype": header[name]["dtype"], "shape": list(sl.get_shape()),
                         "offset": base + begin, "nbytes": end - begin, "file": path}
    return metadata, out


def test_safetensors_file_matches_package(tmp_path, lowbit_json):
    rng = np.random.default_rng(3)
    tensors = {
        "model.layers.0.mlp.up_proj.weight": rng.standard_normal((16, 8)).astype(ml_dtypes.bfloat16),
        "model.norm.weight": rng.standard_normal(8).astype(np.float32),
        "h16": rng.standard_normal((2, 3, 4)).astype(np.float16),
        "f64": rng.standard_normal(5),
        "ids": np.arange(6, dtype=np.int64).reshape(2, 3),
        "fp8": rng.standard_normal((4, 4)).astype(ml_dtypes.float8_e4m3fn),
        "scalar": np.array(2.5, dtype=np.float32),
    }
    tensors["model.norm.weight"][3] = np.nan
    path = str(tmp_path / "model.safetensors")
    save_file(tensors, path, metadata={"format": "pt", "note": "ünïcödé"})

    doc = lowbit_json("inspect", path, "--json", "--stats")
    assert doc["format"] == "safetensors"
    metadata, listing = safetensors_listing(path)
    assert doc["metadata"] == metadata
    got = {t["name"]: {k: t[k] for k in ("name", "dtype", "shape", "offset", "nbytes", "file")}
           for t in doc["tensors"]}
    assert got == listing
    for t in doc["tensors"]:
        values = tensors[t["name"]]
        if t["dtype"] in ("I64",):
            assert t["stats"] is None
            continue
        # Lowbit decodes every element to float32 (F64 values round to nearest), then sums in float64.
        check_stats(t["name"], t["stats"], np.asarray(values).astype(np.float32).astype(np.float64).ravel())
    norm = next(t for t in doc["tensors"] if t["name"] == "model.norm.weight")
    assert norm["stats"]["nan"] == 1


def test_sharded_checkpoint(tmp_path, lowbit_json, run_lowbit):
    rng = np.random.default_rng(5)
    shard_tensors = [
        {"model.embed_tokens.weight": rng.standard_normal((8, 4)).astype(ml_dtypes.bfloat16)},
        {"model.norm.weight": rng.standard_normal(4).astype(np.float32),
         "lm_head.weight": rng.standard_normal((8, 4)).astype(ml_dtypes.bfloat16)},
    ]
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    weight_map = {}
    for name, ts in zip(names, shard_tensors):
        save_file(ts, str(tmp_path / name), metadata={"format": "pt"})
        weight_map.update({k: name for k in ts})
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 160}, "weight_map": weight_map}))
    save_file({"x": np.zeros(2, dtype=np.float32)}, str(tmp_path / "consolidated.safetensors"))

    for target in (str(tmp_path), str(tmp_path / "model.safetensors.index.json")):
        proc = run_lowbit("inspect", target, "--json")
        doc = json.loads(proc.stdout)
        assert "consolidated.safetensors" in proc.stderr
        listing = {}
        for name in names:
            listing.update(safetensors_listing(str(tmp_path / name))[1])
        got = {t["name"]: t for t in doc["tensors"]}
        assert set(got) == set(listing)
        for name, want in listing.items():
            g = got[name]
            assert os.path.samefile(g["file"], want["file"])
            assert {k: g[k] for k in ("dtype", "shape", "offset", "nbytes")} == \
                   {k: want[k] for k in ("dtype", "shape", "offset", "nbytes")}


# ---------------------------------------------------------------------------- errors

def test_errors_and_exit_codes(tmp_path, run_lowbit):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + struct.pack("<I", 3) + struct.pack("<Q", 1) + struct.pack("<Q", 0))
    proc = run_lowbit("inspect", str(bad), check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"lowbit: {bad}: ")
    assert proc.stdout == ""

    missing = run_lowbit("inspect", str(tmp_path / "nope.gguf"), check=False)
    assert missing.returncode == 1 and "nope.gguf" in missing.stderr

    notmodel = tmp_path / "notes.txt"
    notmodel.write_text("hello world, not a model")
    proc = run_lowbit("inspect", str(notmodel), check=False)
    assert proc.returncode == 1 and proc.stderr.startswith(f"lowbit: {notmodel}: ")

    usage = run_lowbit("inspect", "--no-such-option", check=False)
    assert usage.returncode == 2
    assert run_lowbit("inspect", check=False).returncode == 2
    assert run_lowbit("--help").returncode == 0
