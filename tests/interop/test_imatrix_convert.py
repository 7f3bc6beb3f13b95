"""`lowbit convert --imatrix FILE` against llama.cpp's quantizer with the same importance.

The real SmolLM2 model is converted to a BF16 Hugging Face directory (the user's journey) and to
F32 GGUF (its values in GGUF order, the oracle's input). An importance matrix in llama.cpp's GGUF
imatrix layout is written here with gguf-py's GGUFWriter (independent of Lowbit's reader): ragged
positive sums for most weights, one weight whose count is 0 (llama-quantize weighs it 1), one
weight left out (quantized without importance), and a token_embd entry of the wrong length
(llama-quantize ignores it). Then, for q4_0, q4_k_m, iq4_xs (and a few more types), every tensor
Lowbit writes must hold the bytes `ggml_quantize_chunk` (libggml-base of llama-cpp-python 0.3.36)
produces from the same floats with the same importance vector, the type mix must be llama.cpp's
with an imatrix (q4_0: the first eighth of ffn_down in Q4_1), and the quantize.imatrix.* keys must
be written as llama-quantize writes them. Wrong lengths (GGUF and INT targets) and plain-float targets
are refused.
Whole files are also compared with `llama_model_quantize` given the same vectors (its
`llama_model_imatrix_data` table, built with ctypes): same type for every tensor, same bytes.
A legacy `.dat` imatrix is checked the same way.
"""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from oracles import smollm2_or_skip

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "fixtures" / "kquants"))

ZERO_COUNT = "blk.2.ffn_gate.weight"
LEFT_OUT = "blk.3.attn_k.weight"
CHUNKS = 7


@pytest.fixture(scope="module")
def model(lowbit_convert, tmp_path_factory):
    """(BF16 HF directory, {GGUF name: F32 values in GGUF row order})."""
    src = smollm2_or_skip()
    work = tmp_path_factory.mktemp("imatrix-convert")
    hf = work / "bf16"
    subprocess.run([lowbit_convert, "convert", src, "-o", str(hf), "--type", "bf16"], check=True,
                   capture_output=True, timeout=1200)
    f32 = work / "f32.gguf"
    subprocess.run([lowbit_convert, "convert", str(hf), "-o", str(f32), "--type", "f32"], check=True,
                   capture_output=True, timeout=1200)
    values = {t.name: np.array(t.data, dtype=np.float32).reshape([int(n) for n in reversed(t.shape)])
              for t in GGUFReader(str(f32)).tensors}
    return hf, values, work


def write_imatrix(path: pathlib.Path, entries: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """llama-imatrix's GGUF layout: `<name>.in_sum2` (ne [cols, n_mat]) and `<name>.counts`
    (ne [1, n_mat]), F32, plus the general.type / imatrix.* keys."""
    w = GGUFWriter(str(path), arch="llama")
    w.add_type("imatrix")
    w.add_array("imatrix.datasets", ["calibration-text.txt"])
    w.add_uint32("imatrix.chunk_count", CHUNKS)
    w.add_uint32("imatrix.chunk_size", 512)
    for name in sorted(entries):
        sums, counts = entries[name]
        w.add_tensor(name + ".in_sum2", sums.astype(np.float32))
        w.add_tensor(name + ".counts", counts.astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module")
def imatrix(model):
    """(path, {name: importance vector as llama-quantize computes it})."""
    _, values, work = model
    rng = np.random.default_rng(20261202)
    entries, vectors = {}, {}
    for name, m in values.items():
        if m.ndim != 2 or not name.startswith("blk.") or name == LEFT_OUT or "norm" in name:
            continue
        cols = m.shape[1]
        count = 0 if name == ZERO_COUNT else CHUNKS * 512
        sums = (rng.gamma(0.6, 2.0, cols) * rng.uniform(0.1, 10) * count).astype(np.float32)
        if name == "blk.0.attn_q.weight":
            sums[rng.integers(cols)] *= 1e4  # one huge outlier column
        if count == 0:
            sums[:] = 0
        entries[name] = (sums.reshape(1, cols), np.array([[count]], dtype=np.float32))
        vectors[name] = (sums / np.float32(count)).astype(np.float32) if count else np.ones(cols, np.float32)
    entries["token_embd.weight"] = (np.ones((1, 7), np.float32), np.array([[5]], np.float32))
    path = work / "imatrix.gguf"
    write_imatrix(path, entries)
    return path, vectors


def ggml_quantize(lib, qtype, rows: np.ndarray, importance: np.ndarray | None) -> bytes:
    from make_kquant_fixtures import ggml_quantize as quantize
    block_size, block_bytes = GGML_QUANT_SIZES[qtype]
    return quantize(lib, qtype, rows, block_bytes, block_size, importance)


@pytest.mark.parametrize("cli_type", ["q4_0", "q4_k_m", "iq4_xs", "q5_1", "q3_k"])
def test_convert_with_imatrix_matches_ggml(cli_type, ggml, lowbit_convert, model, imatrix, tmp_path):
    hf, values, _ = model
    path, vectors = imatrix
    out = tmp_path / f"{cli_type}.gguf"
    proc = subprocess.run([lowbit_convert, "convert", str(hf), "-o", str(out), "--type", cli_type,
                           "--imatrix", str(path)], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    reader = GGUFReader(str(out))
    checked = weighted = 0
    for t in reader.tensors:
        qtype = T(t.tensor_type)
        if qtype in (T.F32, T.F16, T.BF16):
            continue
        m = values[t.name]
        importance = vectors.get(t.name)
        want = ggml_quantize(ggml, qtype, m, importance)
        got = bytes(np.asarray(t.data, dtype=np.uint8).reshape(-1))
        if got != want:
            g = np.frombuffer(got, np.uint8).reshape(m.shape[0], -1)
            w = np.frombuffer(want, np.uint8).reshape(m.shape[0], -1)
            bad = int((g != w).any(axis=1).sum())
            pytest.fail(f"{cli_type} {t.name} ({qtype.name}): {bad}/{m.shape[0]} rows differ from ggml_quantize_chunk")
        checked += 1
        weighted += importance is not None
    assert checked >= 200 and weighted >= 180, (checked, weighted)

    types = {t.name: T(t.tensor_type) for t in reader.tensors}
    if cli_type == "q4_0":  # llama.cpp with an imatrix: Q4_1 for ffn_down in the first 30/8 layers
        assert [types[f"blk.{i}.ffn_down.weight"] for i in range(5)] == [T.Q4_1] * 3 + [T.Q4_0] * 2
    if cli_type == "iq4_xs":  # ... and no Q5_K there for IQ4_XS
        assert types["blk.0.ffn_down.weight"] == T.IQ4_XS

    kv = {f.name: f for f in reader.fields.values()}
    assert kv["quantize.imatrix.file"].contents() == str(path)
    assert kv["quantize.imatrix.dataset"].contents() == "calibration-text.txt"
    assert kv["quantize.imatrix.entries_count"].contents() == len(vectors) + 1
    assert kv["quantize.imatrix.chunks_count"].contents() == CHUNKS
    for key in ("entries_count", "chunks_count"):  # llama-quantize stores its integer overrides as UINT32
        assert kv[f"quantize.imatrix.{key}"].types == [GGUFValueType.UINT32]


def test_imatrix_changes_only_what_it_weights(lowbit_convert, model, imatrix, tmp_path):
    """Without --imatrix the output is the plain one; with it, weighted tensors differ."""
    hf, _, _ = model
    path, _ = imatrix
    plain, calibrated = tmp_path / "plain.gguf", tmp_path / "calibrated.gguf"
    for out, extra in ((plain, []), (calibrated, ["--imatrix", str(path)])):
        subprocess.run([lowbit_convert, "convert", str(hf), "-o", str(out), "--type", "q4_k_m", *extra],
                       check=True, capture_output=True, timeout=1200)
    a = {t.name: bytes(np.asarray(t.data).view(np.uint8).reshape(-1)) for t in GGUFReader(str(plain)).tensors}
    b = {t.name: bytes(np.asarray(t.data).view(np.uint8).reshape(-1)) for t in GGUFReader(str(calibrated)).tensors}
    assert a[LEFT_OUT] == b[LEFT_OUT]
    assert a["blk.0.attn_q.weight"] != b["blk.0.attn_q.weight"]
    assert a["output_norm.weight"] == b["output_norm.weight"]


def test_wrong_length_and_non_gguf_targets_are_refused(lowbit_convert, model, tmp_path):
    hf, values, _ = model
    bad = tmp_path / "bad.gguf"
    cols = values["blk.4.ffn_up.weight"].shape[1]
    write_imatrix(bad, {"blk.4.ffn_up.weight": (np.ones((1, cols + 32), np.float32), np.array([[3]], np.float32))})
    proc = subprocess.run([lowbit_convert, "convert", str(hf), "-o", str(tmp_path / "o.gguf"), "--type", "q4_0",
                           "--imatrix", str(bad)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert "blk.4.ffn_up.weight" in proc.stderr and str(bad) in proc.stderr
    assert not (tmp_path / "o.gguf").exists()
    # INT layouts take importance too (keyed by GGUF names): the same wrong length is refused.
    proc = subprocess.run([lowbit_convert, "convert", str(hf), "-o", str(tmp_path / "int4"), "--type", "int4",
                           "--imatrix", str(bad)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert "blk.4.ffn_up.weight" in proc.stderr and str(bad) in proc.stderr
    assert not (tmp_path / "int4").exists()
    # Plain floats have nothing to weight.
    proc = subprocess.run([lowbit_convert, "convert", str(hf), "-o", str(tmp_path / "f16"), "--type", "f16",
                           "--imatrix", str(bad)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "--imatrix" in proc.stderr


def write_legacy_imatrix(path: pathlib.Path, entries: dict[str, np.ndarray], ncall: int, dataset: str) -> None:
    """llama-imatrix's legacy `.dat` layout, little-endian int32s: entry count; per entry the name
    (length, bytes), ncall, the value count and the F32 values (mean squared activation times
    ncall); then the chunk count and the dataset name."""
    import struct
    out = bytearray(struct.pack("<i", len(entries)))
    for name in sorted(entries):
        values = entries[name].astype("<f4")
        out += struct.pack("<i", len(name)) + name.encode() + struct.pack("<ii", ncall, values.size) + values.tobytes()
    out += struct.pack("<i", ncall) + struct.pack("<i", len(dataset)) + dataset.encode()
    path.write_bytes(bytes(out))


def test_legacy_dat_imatrix_matches_ggml(ggml, lowbit_convert, model, tmp_path):
    """The same rules from a legacy `.dat` file: llama-quantize divides its values by ncall."""
    hf, values, _ = model
    rng = np.random.default_rng(11)
    ncall = 13
    stored = {name: (rng.gamma(0.6, 2.0, m.shape[1]) * ncall).astype(np.float32)
              for name, m in values.items() if m.ndim == 2 and name.startswith("blk.1.")}
    path = tmp_path / "imatrix.dat"
    write_legacy_imatrix(path, stored, ncall, "legacy-text.txt")
    out = tmp_path / "q4_0.gguf"
    proc = subprocess.run([lowbit_convert, "convert", str(hf), "-o", str(out), "--type", "q4_0", "--imatrix", str(path)],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    reader = GGUFReader(str(out))
    checked = 0
    for t in reader.tensors:
        if not t.name.startswith("blk.1.") or T(t.tensor_type) in (T.F32, T.F16, T.BF16):
            continue
        importance = stored[t.name] / np.float32(ncall)
        want = ggml_quantize(ggml, T(t.tensor_type), values[t.name], importance)
        assert bytes(np.asarray(t.data, dtype=np.uint8).reshape(-1)) == want, t.name
        checked += 1
    assert checked == 7
    kv = {f.name: f for f in reader.fields.values()}
    assert kv["quantize.imatrix.dataset"].contents() == "legacy-text.txt"
    assert kv["quantize.imatrix.entries_count"].contents() == 7
    assert kv["quantize.imatrix.chunks_count"].contents() == ncall


def llama_quantize_with_imatrix(src: pathlib.Path, dst: pathlib.Path, ftype: int, vectors: dict[str, np.ndarray]) -> None:
    """llama.cpp's whole-model quantizer (`llama_model_quantize`) given the importance vectors as
    llama-quantize passes them: a null-terminated array of (name, data, size)."""
    import ctypes
    import llama_cpp

    entry = llama_cpp.llama_model_imatrix_data
    items = sorted(vectors.items())
    table = (entry * (len(items) + 1))()
    kept = []
    for i, (name, vector) in enumerate(items):
        v = np.ascontiguousarray(vector, dtype=np.float32)
        kept.append(v)
        table[i].name = name.encode()
        table[i].data = v.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        table[i].size = v.size
    table[len(items)].name = None
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 2
    params.imatrix = ctypes.cast(table, ctypes.POINTER(entry))
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    assert rc == 0, f"llama_model_quantize({ftype}) returned {rc}"


@pytest.mark.parametrize("cli_type,ftype", [("q4_0", 2), ("q4_k_m", 15), ("iq4_xs", 30)])
def test_types_and_bytes_equal_llama_model_quantize_with_imatrix(cli_type, ftype, lowbit_convert, model, imatrix, tmp_path):
    """The whole file against llama.cpp's own quantizer with the same importance: every tensor's
    type (the imatrix mix included) and bytes."""
    pytest.importorskip("llama_cpp")
    hf, _, work = model
    path, vectors = imatrix
    bf16 = work / "bf16.gguf"
    if not bf16.exists():
        subprocess.run([lowbit_convert, "convert", str(hf), "-o", str(bf16), "--type", "bf16"], check=True,
                       capture_output=True, timeout=1200)
    ours = tmp_path / f"ours-{cli_type}.gguf"
    subprocess.run([lowbit_convert, "convert", str(hf), "-o", str(ours), "--type", cli_type, "--imatrix", str(path)],
                   check=True, capture_output=True, timeout=1200)
    theirs = tmp_path / f"llama-{cli_type}.gguf"
    # token_embd's entry of the wrong length, as in the file: llama.cpp ignores it too.
    llama_quantize_with_imatrix(bf16, theirs, ftype, {**vectors, "token_embd.weight": np.ones(7, np.float32)})
    mine = {t.name: t for t in GGUFReader(str(ours)).tensors}
    reference = {t.name: t for t in GGUFReader(str(theirs)).tensors}
    assert list(mine) == list(reference)
    type_diffs = [(n, mine[n].tensor_type.name, reference[n].tensor_type.name) for n in mine
                  if mine[n].tensor_type != reference[n].tensor_type]
    assert not type_diffs, f"{len(type_diffs)} type differences, e.g. {type_diffs[:5]}"
    byte_diffs = [n for n in mine if not np.array_equal(np.asarray(mine[n].data), np.asarray(reference[n].data))]
    assert not byte_diffs, f"{len(byte_diffs)} tensors differ in bytes, e.g. {byte_diffs[:5]}"
