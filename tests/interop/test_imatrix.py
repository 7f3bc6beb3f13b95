"""`lowbit imatrix` against independent oracles on the real model (SmolLM2-135M dequantized to
F16, fixtures/eval/make_f16_model.py) and botchan.txt:

- the numpy forward pass (fixtures/eval/numpy_llama.py, float64) with llama.cpp's collection
  rules applied in Python: the sums of squares, the counts and the running perplexity;
- gguf-py's GGUFReader reads the GGUF file Lowbit writes; the legacy `.dat` is parsed with
  `struct` from llama.cpp's layout;
- llama.cpp itself, when llama-cpp-python is installed: its matrix-product inputs seen through a
  `cb_eval` callback on a context (as llama-imatrix's collector sees them), summed with
  llama-imatrix's rules, against `lowbit imatrix` on the same F16 GGUF (1% relative L2 per
  tensor, the issue's agreement target).

Large files go to LOWBIT_EVAL_CACHE (default .cache/eval), never into the repository.
"""

import json
import math
import struct
import sys

import numpy as np
import pytest

from test_eval import FIXTURES, cache_dir, f16_model, text_path  # noqa: F401  (fixtures)

sys.path.insert(0, str(FIXTURES))
import numpy_llama  # noqa: E402

CTX = 128
CHUNKS = 2


def _tokens(model, text):
    """llama.cpp's tokens of the text, and the BOS that replaces each chunk's first token (None
    when the vocabulary adds no BOS, as SmolLM2's does not)."""
    import llama_cpp
    vocab = llama_cpp.Llama(model, vocab_only=True, verbose=False)
    bos = vocab.token_bos() if vocab._model.add_bos_token() else None
    return bos, vocab.tokenize(open(text, "rb").read(), add_bos=True, special=False)


def _read_gguf_imatrix(path):
    import gguf
    r = gguf.GGUFReader(path)
    fields = {k: v.contents() for k, v in r.fields.items() if not k.startswith("GGUF.")}
    tensors = {t.name: np.array(t.data) for t in r.tensors}
    shapes = {t.name: [int(d) for d in t.shape] for t in r.tensors}
    names = sorted(n[:-len(".in_sum2")] for n in tensors if n.endswith(".in_sum2"))
    return fields, {n: (tensors[n + ".in_sum2"].reshape(-1), tensors[n + ".counts"].reshape(-1),
                        shapes[n + ".in_sum2"], shapes[n + ".counts"]) for n in names}


def _rel_l2(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def lowbit_imatrix(run_lowbit, f16_model, text_path, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("imatrix") / "out.gguf"
    proc = run_lowbit("imatrix", f16_model, "--text", text_path, "--ctx", CTX, "--chunks", CHUNKS, "--threads", 2,
                      "--precision", "f32", "-o", out, "--json", timeout=1800)
    return out, json.loads(proc.stdout)


def test_imatrix_matches_numpy(lowbit_imatrix, f16_model, text_path):  # noqa: F811
    out, summary = lowbit_imatrix
    fields, entries = _read_gguf_imatrix(str(out))
    assert fields["general.type"] == "imatrix"
    assert fields["imatrix.datasets"] == [text_path]
    assert fields["imatrix.chunk_count"] == CHUNKS and fields["imatrix.chunk_size"] == CTX

    bos, tokens = _tokens(f16_model, text_path)
    cfg, W = numpy_llama.load(f16_model)
    sums, counts, nll = {}, {}, []

    def observe(name, x):
        # llama-imatrix's rules: blk.* weights only (the head is tied to token_embd), 16+ rows.
        if name.startswith("blk.") and x.shape[0] >= 16:
            sums[name] = sums.get(name, 0) + (x * x).sum(axis=0)
            counts[name] = counts.get(name, 0) + x.shape[0]

    first = CTX // 2
    for c in range(CHUNKS):
        chunk = list(tokens[c * CTX:(c + 1) * CTX])
        if bos is not None:
            chunk[0] = bos
        logits = numpy_llama.forward(cfg, W, chunk, first=first, observe=observe)
        targets = tokens[c * CTX + first + 1:(c + 1) * CTX]
        rows = logits[:len(targets)]
        m = rows.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(rows - m).sum(axis=1, keepdims=True)))[:, 0]
        nll += list(lse - rows[np.arange(len(targets)), targets])

    assert sorted(entries) == sorted(sums) and len(sums) == 7 * cfg["layers"]
    worst = 0.0
    for name, (s, n, shape, cshape) in entries.items():
        assert shape == [len(sums[name]), 1] and cshape == [1, 1], name
        assert n[0] == counts[name] == CHUNKS * CTX, name
        worst = max(worst, _rel_l2(s, sums[name]))
    # float32 products through 30 layers against float64.
    assert worst < 1e-4, worst
    ppl = math.exp(np.mean(nll))
    assert summary["perplexity"] == pytest.approx(ppl, rel=1e-4)
    assert summary["entries"] == len(sums) and summary["chunks"] == CHUNKS


def test_legacy_layout_is_llama_cpps(run_lowbit, lowbit_imatrix, f16_model, text_path, tmp_path):  # noqa: F811
    """The .dat output, parsed with llama.cpp's legacy layout, holds (sum / count) · ncall."""
    out, _ = lowbit_imatrix
    _, entries = _read_gguf_imatrix(str(out))
    dat = tmp_path / "out.dat"
    run_lowbit("imatrix", f16_model, "--text", text_path, "--ctx", CTX, "--chunks", CHUNKS, "--threads", 2,
               "--precision", "f32", "-o", dat, "--output-format", "dat", timeout=1800)
    raw = dat.read_bytes()
    (n,), pos = struct.unpack_from("<i", raw), 4
    assert n == len(entries)
    seen = []
    for _ in range(n):
        (length,) = struct.unpack_from("<i", raw, pos)
        name = raw[pos + 4:pos + 4 + length].decode()
        ncall, nval = struct.unpack_from("<ii", raw, pos + 4 + length)
        pos += 12 + length
        values = np.frombuffer(raw, "<f4", nval, pos)
        pos += 4 * nval
        s, c, _, _ = entries[name]
        assert ncall == math.ceil(c[0] / CTX) == CHUNKS
        np.testing.assert_allclose(values, s / c[0] * ncall, rtol=1e-6)
        seen.append(name)
    assert seen == sorted(entries)
    last_chunk, length = struct.unpack_from("<ii", raw, pos)
    assert last_chunk == CHUNKS and raw[pos + 8:] == text_path.encode() and length == len(text_path.encode())


def test_imatrix_matches_llama_cpp(lowbit_imatrix, f16_model, text_path):  # noqa: F811
    """llama.cpp's own matrix-product inputs, collected with llama-imatrix's rules through a
    cb_eval callback, agree with Lowbit's file within 1% relative L2 per tensor."""
    llama_cpp = pytest.importorskip("llama_cpp")
    from llama_cpp_imatrix import collect_with_llama_cpp
    out, _ = lowbit_imatrix
    _, ours = _read_gguf_imatrix(str(out))
    theirs, their_counts = collect_with_llama_cpp(llama_cpp, f16_model, text_path, ctx=CTX, chunks=CHUNKS)
    assert sorted(theirs) == sorted(ours)
    errors = {name: _rel_l2(ours[name][0], theirs[name]) for name in theirs}
    worst = max(errors, key=errors.get)
    assert errors[worst] < 0.01, (worst, errors[worst])
    for name in theirs:
        assert ours[name][1][0] == their_counts[name] == CHUNKS * CTX


def test_skip_chunks_evaluates_a_disjoint_part(lowbit_json, run_lowbit, f16_model, text_path, tmp_path):  # noqa: F811
    """--skip-chunks N evaluates the chunks after the first N: the mean NLL of chunks 1-2 is the
    mean of chunk 1's and chunk 2's (equal prediction counts), and the reports name the chunks."""
    def ppl(*extra):
        return lowbit_json("perplexity", f16_model, "--text", text_path, "--ctx", CTX, "--threads", 2,
                           "--precision", "f32", "--json", *extra)
    both, first, second = ppl("--chunks", 2), ppl("--chunks", 1), ppl("--chunks", 1, "--skip-chunks", 1)
    assert (both["first_chunk"], both["last_chunk"], both["skipped_chunks"]) == (1, 2, 0)
    assert (second["first_chunk"], second["last_chunk"], second["skipped_chunks"]) == (2, 2, 1)
    mean = (math.log(first["perplexity"]) + math.log(second["perplexity"])) / 2
    assert math.log(both["perplexity"]) == pytest.approx(mean, rel=1e-9)
    assert first["perplexity"] != second["perplexity"]

    # compare: base logits saved over chunks 2-3 are reused only for the same chunks.
    base = tmp_path / "base.logits"
    out = lowbit_json("compare", f16_model, f16_model, "--text", text_path, "--ctx", CTX, "--chunks", 2,
                      "--skip-chunks", 1, "--threads", 2, "--precision", "f32", "--save-base", base, "--json")
    assert (out["first_chunk"], out["last_chunk"]) == (2, 3) and out["kld_mean"] == pytest.approx(0, abs=1e-9)
    again = lowbit_json("compare", "-", f16_model, "--text", text_path, "--ctx", CTX, "--chunks", 2,
                        "--skip-chunks", 1, "--threads", 2, "--precision", "f32", "--base-logits", base, "--json")
    assert again["perplexity_base"] == pytest.approx(out["perplexity_base"], rel=1e-3)
    proc = run_lowbit("compare", "-", f16_model, "--text", text_path, "--ctx", CTX, "--chunks", 2,
                      "--threads", 2, "--precision", "f32", "--base-logits", base, check=False)
    assert proc.returncode == 1 and "tokens differ" in proc.stderr

    # imatrix --skip-chunks: calibrating on chunks 2-3 counts their tokens.
    out = tmp_path / "skip.gguf"
    summary = lowbit_json("imatrix", f16_model, "--text", text_path, "--ctx", CTX, "--chunks", 2, "--skip-chunks", 1,
                          "--threads", 2, "--precision", "f32", "-o", out, "--json")
    assert (summary["first_chunk"], summary["last_chunk"]) == (2, 3)
    fields, entries = _read_gguf_imatrix(str(out))
    assert fields["imatrix.chunk_count"] == 2 and entries["blk.0.attn_q.weight"][1][0] == 2 * CTX


def test_convert_calibration_is_imatrix_then_convert(run_lowbit, f16_model, text_path, tmp_path):  # noqa: F811
    """`convert --calibration TEXT` computes the importance matrix in the same run: its tensors are
    byte for byte those of `lowbit imatrix` on the same chunks followed by `convert --imatrix`, and
    the output records the text as its imatrix source."""
    from gguf import GGUFReader
    matrix = tmp_path / "m.gguf"
    run_lowbit("imatrix", f16_model, "--text", text_path, "--ctx", CTX, "--chunks", CHUNKS, "-o", matrix, timeout=1800)
    two_steps, one_run = tmp_path / "two.gguf", tmp_path / "one.gguf"
    run_lowbit("convert", f16_model, "-o", two_steps, "--type", "q4_0", "--imatrix", matrix, timeout=1800)
    run_lowbit("convert", f16_model, "-o", one_run, "--type", "q4_0", "--calibration", text_path,
               "--calibration-ctx", CTX, "--calibration-chunks", CHUNKS, timeout=1800)
    a, b = GGUFReader(str(two_steps)), GGUFReader(str(one_run))
    assert [t.name for t in a.tensors] == [t.name for t in b.tensors]
    for x, y in zip(a.tensors, b.tensors):
        assert x.tensor_type == y.tensor_type and bytes(x.data.tobytes()) == bytes(y.data.tobytes()), x.name
    source = b.fields["quantize.imatrix.file"]
    assert bytes(source.parts[source.data[0]]).decode() == str(text_path)
    assert int(b.fields["quantize.imatrix.chunks_count"].parts[-1][0]) == CHUNKS
    # A method that needs calibration without a text, and --imatrix with --calibration, are refused.
    for extra in (["--method", "gptq"], ["--imatrix", str(matrix), "--calibration", str(text_path)]):
        proc = run_lowbit("convert", f16_model, "-o", tmp_path / "bad.gguf", "--type", "q4_0", *extra, check=False)
        assert proc.returncode == 2, proc.stderr
    assert not (tmp_path / "bad.gguf").exists()
