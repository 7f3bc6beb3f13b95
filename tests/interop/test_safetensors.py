"""Safetensors files written by Lowbit, read back by the `safetensors` package.

Lowbit writes safetensors through `lowbit convert IN -o OUT.safetensors --type f32|f16|bf16`.
Each test builds a small input with the `safetensors` package, converts it with Lowbit, and
checks with `safe_open` (and Python's json for the raw header) that every tensor is there with
the same name and shape, and values equal to numpy's / ml_dtypes' own rounding of the input
(round to nearest even). The tests skip while the binary has no `convert` command; the Swift
writer round trip (SafetensorsWriterTests) covers the writer meanwhile.

The second half runs `lowbit inspect` over the committed fixtures (fixtures/safetensors/): every
valid file lists exactly the tensors Python's reader sees, and every hostile file is refused with
exit status 1 and a message naming it, never a crash.
"""

import json
import os
import pathlib
import struct

import ml_dtypes
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

TARGETS = {"f32": np.float32, "f16": np.float16, "bf16": ml_dtypes.bfloat16}
SAFETENSORS_NAMES = {"f32": "F32", "f16": "F16", "bf16": "BF16"}


@pytest.fixture(scope="module")
def convert(run_lowbit):
    """Runs `lowbit convert`, skipping the module if the binary does not have it yet."""
    probe = run_lowbit("convert", "--help", check=False)
    # Without the subcommand, the parser prints the top-level help (still exit 0).
    if probe.returncode != 0 or "lowbit convert" not in probe.stdout + probe.stderr:
        pytest.skip("this lowbit binary has no `convert` command yet")

    def run(src, dst, target, *extra):
        return run_lowbit("convert", src, "-o", dst, "--type", target, *extra)
    return run


def read_all(path):
    """Tensors by name as numpy arrays, decoding BF16 with ml_dtypes (the numpy bridge of the
    safetensors package has no bfloat16)."""
    out = {}
    with open(path, "rb") as fh:
        data = fh.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    with safe_open(path, framework="np") as f:
        for name in f.keys():
            entry = header[name]
            if entry["dtype"] == "BF16":
                b, e = entry["data_offsets"]
                arr = np.frombuffer(data[8 + n + b:8 + n + e], dtype=ml_dtypes.bfloat16).reshape(entry["shape"])
            else:
                arr = f.get_tensor(name)
            out[name] = arr
    return n, header, out


def source_tensors(seed):
    rng = np.random.RandomState(seed)
    # Llama-like names and shapes, small; a few awkward values included.
    emb = (rng.standard_normal((32, 16)) * 0.02).astype(np.float32)
    emb[0, :6] = [0.0, -0.0, 1e-30, 65504.0, 3.4e38, -1.5]
    return {
        "model.embed_tokens.weight": emb,
        "model.layers.0.self_attn.q_proj.weight": (rng.standard_normal((16, 16)) * 0.1).astype(np.float32),
        "model.layers.0.input_layernorm.weight": np.ones(16, dtype=np.float32),
        "model.norm.weight": (1 + rng.standard_normal(16) * 0.01).astype(np.float32),
        "lm_head.weight": (rng.standard_normal((32, 16)) * 0.02).astype(np.float32),
    }


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_plain_float_output_reads_back_identically(convert, tmp_path, target):
    src = tmp_path / "in.safetensors"
    tensors = source_tensors(7)
    save_file(tensors, str(src), metadata={"format": "pt"})
    dst = tmp_path / f"out-{target}.safetensors"
    convert(src, dst, target)

    n, header, out = read_all(str(dst))
    assert (8 + n) % 8 == 0, "the data section must start at a multiple of 8"
    assert set(out) == set(tensors)
    for name, ref in tensors.items():
        got = out[name]
        assert header[name]["dtype"] == SAFETENSORS_NAMES[target], name
        assert list(got.shape) == list(ref.shape), name
        with np.errstate(over="ignore"):  # 3.4e38 overflows F16 to inf, in numpy as in Lowbit
            want = ref.astype(TARGETS[target])
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8), err_msg=name)
    # The data section is tiled exactly (the safetensors package checks it too on open).
    ranges = sorted(e["data_offsets"] for k, e in header.items() if k != "__metadata__")
    assert ranges[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert ranges[-1][1] == dst.stat().st_size - 8 - n


def test_bf16_input_to_f32_is_exact(convert, tmp_path):
    src = tmp_path / "in-bf16.safetensors"
    rng = np.random.RandomState(11)
    raw = {"model.norm.weight": rng.standard_normal(64).astype(ml_dtypes.bfloat16),
           "lm_head.weight": rng.standard_normal((8, 64)).astype(ml_dtypes.bfloat16)}
    save_file(raw, str(src))
    dst = tmp_path / "out-f32.safetensors"
    convert(src, dst, "f32")
    _, header, out = read_all(str(dst))
    for name, ref in raw.items():
        assert header[name]["dtype"] == "F32"
        np.testing.assert_array_equal(out[name], ref.astype(np.float32), err_msg=name)


def test_output_is_atomic_on_failure(convert, run_lowbit, tmp_path):
    """A conversion that fails (here: NaN weights, which convert refuses) leaves no output and
    no temporary file behind."""
    src = tmp_path / "in-nan.safetensors"
    bad = np.ones((4, 16), dtype=np.float32)
    bad[1, 3] = np.nan
    save_file({"model.norm.weight": np.ones(16, np.float32), "lm_head.weight": bad}, str(src))
    dst = tmp_path / "out.safetensors"
    proc = run_lowbit("convert", src, "-o", dst, "--type", "bf16", check=False)
    assert proc.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in-nan.safetensors"]


# --- Lowbit's reader through the CLI, against the committed fixtures -------------------------

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "safetensors"


def python_view(path):
    """The tensors of a file as the `safetensors` package and Python's json see them."""
    with open(path, "rb") as fh:
        data = fh.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    with safe_open(str(path), framework="np") as f:
        names = set(f.keys())
    rows = []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        rows.append({"name": name, "dtype": e["dtype"], "shape": e["shape"], "offset": 8 + n + b,
                     "nbytes": end - b, "file": str(path)})
    # Python's reader (only for dtypes it knows) and the header agree on the names.
    assert names <= {r["name"] for r in rows}
    return sorted(rows, key=lambda r: (r["file"], r["offset"], r["name"])), header.get("__metadata__") or {}


def inspect_json(run_lowbit, path):
    proc = run_lowbit("inspect", path, "--json", check=False)
    if proc.returncode == 2 or "Unknown" in proc.stderr:
        pytest.skip("this lowbit binary has no `inspect --json`")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def lowbit_rows(doc):
    return sorted(({k: t[k] for k in ("name", "dtype", "shape", "offset", "nbytes", "file")} for t in doc["tensors"]),
                  key=lambda r: (r["file"], r["offset"], r["name"]))


@pytest.mark.parametrize("rel", ["valid/all_dtypes.safetensors", "valid/unaligned.safetensors",
                                 "valid/odd_header.safetensors", "valid/zero_sized.safetensors",
                                 "valid/empty.safetensors", "single/model.safetensors"])
def test_inspect_matches_python_on_fixtures(run_lowbit, rel):
    path = FIXTURES / rel
    doc = inspect_json(run_lowbit, str(path))
    want, meta = python_view(path)
    assert doc["format"] == "safetensors"
    assert lowbit_rows(doc) == want
    for key, value in meta.items():
        assert doc["metadata"][key] == value


def test_inspect_sharded_checkpoint_ignores_consolidated(run_lowbit):
    directory = FIXTURES / "sharded"
    doc = inspect_json(run_lowbit, str(directory))
    want = []
    for shard in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        want += python_view(directory / shard)[0]
    got = lowbit_rows(doc)
    assert [(r["name"], r["dtype"], r["shape"], r["offset"], r["nbytes"], os.path.basename(r["file"])) for r in got] == \
        [(r["name"], r["dtype"], r["shape"], r["offset"], r["nbytes"], os.path.basename(r["file"]))
         for r in sorted(want, key=lambda r: (os.path.basename(r["file"]), r["offset"], r["name"]))]
    assert all("consolidated" not in r["file"] for r in got)
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    assert int(doc["metadata"]["total_size"]) == index["metadata"]["total_size"]


def hostile_cases():
    manifest = json.loads((FIXTURES / "hostile" / "manifest.json").read_text())
    return sorted(manifest)


@pytest.mark.parametrize("name", hostile_cases())
def test_inspect_refuses_hostile_fixture(run_lowbit, name):
    path = str(FIXTURES / "hostile" / name).rstrip("/")
    proc = run_lowbit("inspect", path, check=False, timeout=60)
    assert proc.returncode == 1, f"{name}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert path in proc.stderr or os.path.basename(path) in proc.stderr, proc.stderr
    assert "Fatal error" not in proc.stderr and "Backtrac" not in proc.stderr
