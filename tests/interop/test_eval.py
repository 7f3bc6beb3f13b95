"""Lowbit's evaluator against llama.cpp (through llama-cpp-python) and an independent numpy
forward pass.

The reference uses llama.cpp's own chunking, recomputed in Python over
`llama_cpp.Llama(model, logits_all=True, n_ctx=ctx)`: the text is tokenized once, cut into
floor(tokens / ctx) chunks, the logits of rows ctx/2 .. ctx-2 predict the next token. The models
are SmolLM2-135M dequantized to F16 (fixtures/eval/make_f16_model.py) and that F16 model
requantized to Q4_0 with gguf-py; the text is botchan.txt (scripts/fetch-eval-text.sh). Large
files go to .cache/eval (or LOWBIT_EVAL_CACHE), never into the repository.

LOWBIT_EVAL_CHUNKS (default 4) sets how many chunks of 512 tokens are compared.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "eval"
CTX = 512
CHUNKS = int(os.environ.get("LOWBIT_EVAL_CHUNKS", "4"))

sys.path.insert(0, str(FIXTURES))
import numpy_llama  # noqa: E402


@pytest.fixture(scope="module")
def cache_dir() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("LOWBIT_EVAL_CACHE", REPO / ".cache" / "eval"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def text_path(cache_dir) -> str:
    out = cache_dir / "botchan.txt"
    subprocess.run([str(REPO / "scripts" / "fetch-eval-text.sh"), str(out)], check=True,
                   capture_output=True, timeout=600)
    return str(out)


def _made(cache_dir, model_path, name, kind):
    out = cache_dir / name
    if not out.exists():
        src = model_path if kind == "f16" else str(cache_dir / "smollm2-f16.gguf")
        subprocess.run([sys.executable, str(FIXTURES / "make_f16_model.py"), src, str(out), "--type", kind],
                       check=True, timeout=900)
    return str(out)


@pytest.fixture(scope="module")
def f16_model(cache_dir, model_path) -> str:
    return _made(cache_dir, model_path, "smollm2-f16.gguf", "f16")


@pytest.fixture(scope="module")
def q4_0_model(cache_dir, model_path, f16_model) -> str:
    return _made(cache_dir, model_path, "smollm2-q4_0.gguf", "q4_0")


def _log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


class Reference:
    """llama.cpp's logits over the chunks of the text, and the statistics derived from them."""

    def __init__(self, model, text_path, chunks=CHUNKS, ctx=CTX):
        import llama_cpp
        self.llm = llama_cpp.Llama(model, logits_all=True, n_ctx=ctx, n_batch=ctx, n_threads=2, verbose=False)
        self.tokens = self.llm.tokenize(open(text_path, "rb").read(), add_bos=True, special=False)
        self.ctx = ctx
        self.chunks = min(chunks, len(self.tokens) // ctx)
        self.bos = self.llm.token_bos() if self.llm._model.add_bos_token() else None

    def chunk_log_probs(self, i):
        start = i * self.ctx
        toks = list(self.tokens[start:start + self.ctx])
        if self.bos is not None:
            toks[0] = self.bos
        self.llm.reset()
        self.llm.eval(toks)
        first = self.ctx // 2
        logits = np.array(self.llm.scores[first:self.ctx - 1], dtype=np.float32)
        targets = np.array(self.tokens[start + first + 1:start + self.ctx])
        return _log_softmax(logits), targets


def _nll_stats(nll):
    nll = np.asarray(nll, dtype=np.float64)
    mean = nll.mean()
    ppl = float(np.exp(mean))
    var = (nll * nll).mean() - mean * mean
    return ppl, float(np.sqrt(var / (len(nll) - 1)) * ppl)


@pytest.fixture(scope="module")
def reference(cache_dir, f16_model, q4_0_model, text_path):
    """PPL of both models and KLD(F16 || Q4_0) by llama.cpp, cached as JSON per chunk count."""
    path = cache_dir / f"reference-ctx{CTX}-chunks{CHUNKS}.json"
    if path.exists():
        return json.loads(path.read_text())
    base, quant = Reference(f16_model, text_path), Reference(q4_0_model, text_path)
    assert base.tokens == quant.tokens
    nll_b, nll_q, kld, same, dp = [], [], [], [], []
    for i in range(base.chunks):
        lb, targets = base.chunk_log_probs(i)
        lq, _ = quant.chunk_log_probs(i)
        rows = np.arange(len(targets))
        nll_b += list(-lb[rows, targets])
        nll_q += list(-lq[rows, targets])
        kld += list((np.exp(lb) * (lb - lq)).sum(axis=1))
        same += list(lb.argmax(axis=1) == lq.argmax(axis=1))
        dp += list(np.exp(lq[rows, targets]) - np.exp(lb[rows, targets]))
    ppl_b, se_b = _nll_stats(nll_b)
    ppl_q, se_q = _nll_stats(nll_q)
    result = {"tokens": len(base.tokens), "chunks": base.chunks, "scored": len(nll_b),
              "perplexity_base": ppl_b, "stderr_base": se_b, "perplexity_quant": ppl_q, "stderr_quant": se_q,
              "kld_mean": float(np.mean(kld)), "kld_p99": float(np.quantile(kld, 0.99)),
              "top1_agreement": 100 * float(np.mean(same)), "rms_dp": 100 * float(np.sqrt(np.mean(np.square(dp))))}
    path.write_text(json.dumps(result, indent=2))
    return result


@pytest.mark.parametrize("precision", ["bf16", "f32"])
def test_perplexity_matches_llama_cpp(lowbit_json, f16_model, text_path, reference, precision):
    out = lowbit_json("perplexity", f16_model, "--text", text_path, "--ctx", CTX, "--chunks", CHUNKS,
                      "--threads", 2, "--json", "--precision", precision, timeout=1800)
    assert out["precision"] == precision
    assert out["tokens"] == reference["tokens"]
    assert out["chunks"] == reference["chunks"]
    assert out["scored"] == reference["scored"] == reference["chunks"] * (CTX // 2 - 1)
    assert out["ctx"] == CTX
    assert abs(out["perplexity"] / reference["perplexity_base"] - 1) < 0.005, (out, reference)
    assert abs(out["stderr"] / reference["stderr_base"] - 1) < 0.05
    assert out["tokens_per_second"] > 0
    print(f"\nF16 PPL lowbit ({precision}) {out['perplexity']:.4f} llama.cpp {reference['perplexity_base']:.4f}, "
          f"{out['tokens_per_second']:.0f} tok/s")


def test_bf16_products_cost_little(lowbit_json, f16_model, q4_0_model, text_path, tmp_path):
    """Rounding the operands of the weight products to bfloat16 moves the predictions of the F16
    model far less than quantization does: its KL divergence from the exact (f32) pass is the
    noise floor of `--precision bf16`."""
    exact = tmp_path / "f32.logits"
    lowbit_json("compare", f16_model, f16_model, "--text", text_path, "--chunks", 2, "--threads", 2,
                "--precision", "f32", "--json", "--save-base", exact, timeout=1800)
    floor = lowbit_json("compare", "-", f16_model, "--text", text_path, "--chunks", 2, "--threads", 2,
                        "--precision", "bf16", "--json", "--base-logits", exact, timeout=1800)
    assert 0 < floor["kld_mean"] < 1e-3
    assert abs(floor["perplexity_ratio"] - 1) < 2e-3
    assert floor["top1_agreement"] > 97
    quant = {p: lowbit_json("compare", "-", q4_0_model, "--text", text_path, "--chunks", 2, "--threads", 2,
                            "--precision", p, "--json", "--base-logits", exact, timeout=1800)
             for p in ("f32", "bf16")}
    assert floor["kld_mean"] < quant["f32"]["kld_mean"] / 100
    assert abs(quant["bf16"]["kld_mean"] / quant["f32"]["kld_mean"] - 1) < 0.01
    print(f"\nbf16 noise floor: KLD {floor['kld_mean']:.2e}, PPL ratio {floor['perplexity_ratio']:.5f}; "
          f"Q4_0 KLD f32 {quant['f32']['kld_mean']:.5f} bf16 {quant['bf16']['kld_mean']:.5f}")


def test_kl_divergence_matches_llama_cpp(lowbit_json, f16_model, q4_0_model, text_path, reference, tmp_path):
    saved = tmp_path / "base.logits"
    out = lowbit_json("compare", f16_model, q4_0_model, "--text", text_path, "--ctx", CTX, "--chunks", CHUNKS,
                      "--threads", 2, "--json", "--save-base", saved, timeout=3600)
    assert out["scored"] == reference["scored"]
    assert abs(out["perplexity_base"] / reference["perplexity_base"] - 1) < 0.005
    assert abs(out["perplexity_quant"] / reference["perplexity_quant"] - 1) < 0.02
    # llama.cpp multiplies Q4_0 weights with activations rounded to Q8_0, Lowbit with them rounded
    # to bfloat16 (the default here), so the divergences differ a little; within 10 %.
    assert reference["kld_mean"] > 0.01
    assert abs(out["kld_mean"] / reference["kld_mean"] - 1) < 0.10, (out, reference)
    assert abs(out["top1_agreement"] - reference["top1_agreement"]) < 3
    for key in ("kld_stderr", "kld_median", "kld_p99", "kld_p999", "kld_max", "rms_dp"):
        assert out[key] is not None and out[key] >= 0
    assert out["kld_median"] <= out["kld_p99"] <= out["kld_p999"] <= out["kld_max"]

    # The saved base log-probabilities (zstd, half floats) give the same statistics.
    assert saved.stat().st_size < 2 * out["scored"] * 49152
    again = lowbit_json("compare", "-", q4_0_model, "--text", text_path, "--ctx", CTX, "--chunks", CHUNKS,
                        "--threads", 2, "--json", "--base-logits", saved, timeout=3600)
    assert abs(again["kld_mean"] / out["kld_mean"] - 1) < 0.01
    assert abs(again["perplexity_base"] / out["perplexity_base"] - 1) < 1e-3
    assert again["perplexity_quant"] == pytest.approx(out["perplexity_quant"], rel=1e-6)
    print(f"\nKLD lowbit {out['kld_mean']:.5f} llama.cpp {reference['kld_mean']:.5f}; "
          f"top-1 {out['top1_agreement']:.2f}% vs {reference['top1_agreement']:.2f}%")


def test_compare_tensors_and_plot(run_lowbit, f16_model, q4_0_model, text_path, tmp_path):
    plot = tmp_path / "errors.html"
    proc = run_lowbit("compare", f16_model, q4_0_model, "--text", text_path, "--chunks", 2, "--threads", 2,
                      "--json", "--tensors", "--plot", plot, timeout=1800)
    out = json.loads(proc.stdout)
    names = {t["name"]: t for t in out["tensors"]}
    assert names["blk.0.attn_q.weight"]["quant_type"] == "Q4_0"
    assert names["blk.0.attn_q.weight"]["base_type"] == "F16"
    assert 10 < names["blk.0.attn_q.weight"]["snr_db"] < 40
    html = plot.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "blk.29.ffn_down.weight" in html


def test_zstd_text_gives_the_same_tokens(lowbit_json, f16_model, text_path, tmp_path):
    zst = tmp_path / "botchan.txt.zst"
    try:
        subprocess.run(["zstd", "-q", "-f", text_path, "-o", str(zst)], check=True)
    except FileNotFoundError:
        pytest.skip("the zstd command is not installed")
    a = lowbit_json("perplexity", f16_model, "--text", text_path, "--chunks", 2, "--json")
    b = lowbit_json("perplexity", f16_model, "--text", zst, "--chunks", 2, "--json")
    assert a["tokens"] == b["tokens"] and a["perplexity"] == b["perplexity"]


def test_errors_and_exit_statuses(run_lowbit, f16_model, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("Too short to evaluate.\n")
    proc = run_lowbit("perplexity", f16_model, "--text", short, check=False)
    assert proc.returncode == 1 and "tokens" in proc.stderr
    lone = FIXTURES / "tiny-hf" / "model.safetensors"
    proc = run_lowbit("perplexity", lone, "--text", short, check=False)
    assert proc.returncode == 1 and "config.json" in proc.stderr
    proc = run_lowbit("perplexity", f16_model, check=False)
    assert proc.returncode == 2
    proc = run_lowbit("compare", "-", f16_model, "--text", short, check=False)
    assert proc.returncode == 2


def test_golden_logits_are_numpys(tmp_path):
    """The committed golden logits are what the numpy oracle computes from the committed models."""
    tokens = json.loads((FIXTURES / "tiny-tokens.json").read_text())
    for name, path in [("tiny-gguf", FIXTURES / "tiny.gguf"), ("tiny-hf", FIXTURES / "tiny-hf")]:
        cfg, W = numpy_llama.load(str(path))
        logits = numpy_llama.forward(cfg, W, tokens)
        golden = np.fromfile(FIXTURES / f"{name}.logits.f32", dtype="<f4").reshape(logits.shape)
        assert np.abs(logits - golden).max() < 1e-5
        rounded = numpy_llama.forward(cfg, W, tokens, bf16=True)
        golden = np.fromfile(FIXTURES / f"{name}.bf16.logits.f32", dtype="<f4").reshape(logits.shape)
        assert np.abs(rounded - golden).max() < 1e-5
        assert np.abs(rounded - logits).max() > 1e-3  # the rounding is really there


def test_numpy_oracle_matches_llama_cpp(f16_model, text_path):
    """The numpy forward pass itself agrees with llama.cpp on the real model (first 96 tokens)."""
    import llama_cpp
    llm = llama_cpp.Llama(f16_model, logits_all=True, n_ctx=128, n_threads=2, verbose=False)
    tokens = llm.tokenize(open(text_path, "rb").read()[:2000], add_bos=True, special=False)[:96]
    llm.eval(tokens)
    ref = np.array(llm.scores[:len(tokens)], dtype=np.float64)
    cfg, W = numpy_llama.load(f16_model)
    ours = numpy_llama.forward(cfg, W, tokens)
    assert (ours.argmax(axis=1) == ref.argmax(axis=1)).mean() > 0.97
    assert np.abs(ours - ref).max() < 0.25


@pytest.fixture(scope="module")
def hf_model(cache_dir, model_path) -> str:
    """The real SmolLM2 weights as a Hugging Face directory (fixtures/eval/make_hf_model.py)."""
    out = cache_dir / "smollm2-hf"
    if not (out / "tokenizer.json").exists():
        subprocess.run([sys.executable, str(FIXTURES / "make_hf_model.py"), model_path,
                        str(REPO / "fixtures" / "tokenizer" / "smollm2-hf-skeleton.json"), str(out)],
                       check=True, timeout=900)
    return str(out)


def test_hf_directory_matches_gguf(lowbit_json, hf_model, f16_model, text_path):
    """The same weights from a Hugging Face directory (half-split rope, tokenizer.json) and from
    the F16 GGUF (permuted Q/K, interleaved rope, GGUF tokenizer) give the same predictions."""
    # Exact products: the F32 directory and the F16 file would round to bfloat16 apart.
    out = lowbit_json("compare", hf_model, f16_model, "--text", text_path, "--chunks", 2, "--threads", 2,
                      "--json", "--tensors", "--precision", "f32", timeout=1800)
    assert out["perplexity_base"] == pytest.approx(out["perplexity_quant"], rel=1e-4)
    assert abs(out["kld_mean"]) < 1e-4
    assert out["top1_agreement"] > 99.5
    tensors = {t["name"]: t for t in out["tensors"]}
    # Q and K are compared after undoing GGUF's row permutation: identical values.
    assert tensors["blk.3.attn_q.weight"]["max_abs_error"] == 0
    assert tensors["blk.3.attn_k.weight"]["max_abs_error"] == 0
