"""`lowbit convert` on the real SmolLM2 model, checked against independent oracles.

The flow the README describes: the Q4_1 GGUF -> a BF16 Hugging Face directory -> GGUF (f16,
q8_0, q4_k_m, ...) and compressed-tensors / MLX safetensors. Oracles:

- gguf-py (`gguf.GGUFReader`, `gguf.quants`) for the source values and Q/K row order;
- llama.cpp through llama-cpp-python 0.3.36: `llama_model_quantize` on Lowbit's own BF16 GGUF of
  the same weights must choose the same type for every tensor AND write the same bytes as
  `lowbit convert` from the HF directory; the converted GGUFs load in `llama_cpp.Llama` and
  give next-token logits close to the original model dequantized to F16; its tokenizer gives
  the same token ids as the original GGUF's;
- the numpy reimplementations of compressed-tensors / MLX in fixtures/ctq/make_fixtures.py.

The real model: env LOWBIT_SMOLLM2 (or LOWBIT_MODEL), else /tmp/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf;
the module is skipped when none exists. Measured figures are printed (pytest -s shows them).
"""

import importlib.util
import json
import os
import pathlib

import ml_dtypes
import numpy as np
import pytest

from oracles import find_smollm2

gguf = pytest.importorskip("gguf")

DEFAULT_MODEL = "/tmp/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# llama_ftype values (llama.h).
FTYPES = {"q4_0": 2, "q8_0": 7, "q2_k": 10, "q3_k": 11, "q4_k_s": 14, "q4_k_m": 15, "q5_k_m": 17}
TRICKY_STRINGS = [
    "Hello world",
    "  leading spaces and\ttabs\n\nnewlines",
    "Numbers: 1234567890 3.14159 1,000,000",
    "don't won't I'm you're they'll",
    "Ünïcödé café naïve — “quotes” …",
    "中文字符和日本語のテキスト",
    "emoji 🤗🚀 mixed",
    "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "def f(x):\n    return x**2  # comment",
    "URLs: https://example.com/a?b=c&d=e",
]
PROMPT = "The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is"


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def smollm2():
    for path in (os.environ.get("LOWBIT_SMOLLM2"), os.environ.get("LOWBIT_MODEL"), find_smollm2(), DEFAULT_MODEL):
        if path and os.path.isfile(path):
            return path
    pytest.skip("the real SmolLM2 GGUF is not available (set LOWBIT_SMOLLM2)")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("convert")


@pytest.fixture(scope="module")
def converted(run_lowbit, smollm2, work):
    """Lazily converts and caches: converted(name, source, *args) -> output path."""
    cache = {}

    def get(name, source, *args):
        if name not in cache:
            out = work / name
            run_lowbit("convert", source, "-o", out, *args)
            cache[name] = out
        return cache[name]
    return get


@pytest.fixture(scope="module")
def hf_dir(converted, smollm2):
    return converted("hf-bf16", smollm2, "--type", "bf16")


@pytest.fixture(scope="module")
def original(smollm2):
    """GGUF name -> float32 values of the original model (dequantized by gguf-py), row-major."""
    reader = gguf.GGUFReader(smollm2)
    out = {}
    for t in reader.tensors:
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        out[t.name] = values.reshape([int(d) for d in reversed(t.shape)] if len(t.shape) > 1 else -1)
    return out


@pytest.fixture(scope="module")
def hparams(smollm2):
    reader = gguf.GGUFReader(smollm2)

    def value(key):
        f = reader.fields[key]
        return int(f.parts[f.data[0]][0])
    return {"heads": value("llama.attention.head_count"), "kv_heads": value("llama.attention.head_count_kv"),
            "layers": value("llama.block_count")}


@pytest.fixture(scope="module")
def ctq(repo_root):
    spec = importlib.util.spec_from_file_location("ctq_make_fixtures", repo_root / "fixtures" / "ctq" / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- helpers

GLOBAL_NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
                "output.weight": "lm_head.weight"}
LAYER_NAMES = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
               "attn_output": "self_attn.o_proj", "attn_norm": "input_layernorm",
               "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
               "ffn_down": "mlp.down_proj"}


def hf_name(gguf_name):
    if gguf_name in GLOBAL_NAMES:
        return GLOBAL_NAMES[gguf_name]
    _, layer, part, suffix = gguf_name.split(".")
    return f"model.layers.{layer}.{LAYER_NAMES[part]}.{suffix}"


def permute(w, n_head):
    """HF -> GGUF rotary row order, as llama.cpp's converter documents it."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def read_safetensors_raw(path):
    """name -> (dtype, shape, bytes) from the header (the numpy backend cannot load F8)."""
    data = pathlib.Path(path).read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    return {k: (v["dtype"], v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}


NP_DTYPES = {"BF16": ml_dtypes.bfloat16, "F16": np.float16, "F32": np.float32, "I32": np.int32, "I64": np.int64,
             "U32": np.uint32, "F8_E4M3": ml_dtypes.float8_e4m3fn, "U8": np.uint8, "I8": np.int8}


def read_checkpoint(directory):
    """Every tensor of a HF directory (single file or shards) as numpy arrays."""
    directory = pathlib.Path(directory)
    files = sorted(directory.glob("*.safetensors"))
    out = {}
    for f in files:
        for name, (dtype, shape, raw) in read_safetensors_raw(f).items():
            out[name] = np.frombuffer(raw, NP_DTYPES[dtype]).reshape(shape)
    return out


def gguf_tensors(path):
    return {t.name: t for t in gguf.GGUFReader(str(path)).tensors}


def bf16(x):
    return x.astype(ml_dtypes.bfloat16).astype(np.float32)


# ---------------------------------------------------------------- GGUF -> HF -> GGUF

def test_gguf_to_hf_directory_is_bf16_of_the_dequantized_original(hf_dir, original, hparams):
    files = {p.name for p in hf_dir.iterdir()}
    assert {"config.json", "tokenizer.json", "tokenizer_config.json"} <= files
    config = json.loads((hf_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["num_attention_heads"] == hparams["heads"] and config["num_key_value_heads"] == hparams["kv_heads"]
    tensors = read_checkpoint(hf_dir)
    assert len(tensors) == len(original)
    for name, values in original.items():
        got = tensors[hf_name(name)]
        assert got.dtype == ml_dtypes.bfloat16, name
        want = values
        if ".attn_q." in name:
            want = unpermute(values, hparams["heads"])
        elif ".attn_k." in name:
            want = unpermute(values, hparams["kv_heads"])
        # Exact: the BF16 rounding (to nearest even) of gguf-py's dequantized value.
        assert np.array_equal(got.astype(np.float32), bf16(want)), name


@pytest.mark.parametrize("type_name", ["f16", "bf16"])
def test_float_gguf_round_trips_the_hf_values(converted, hf_dir, original, hparams, type_name):
    out = converted(f"rt-{type_name}.gguf", hf_dir, "--type", type_name)
    tensors = gguf_tensors(out)
    assert set(tensors) == set(original)
    for name, values in original.items():
        t = tensors[name]
        got = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(values.shape)
        if values.ndim == 1:
            assert t.tensor_type == gguf.GGMLQuantizationType.F32, name
        # In GGUF row order again, equal to the BF16 values (F16 holds them where representable).
        want = bf16(values)
        if type_name == "f16":
            want = want.astype(np.float16).astype(np.float32) if values.ndim > 1 else want
        assert np.array_equal(got, want), name


def llama_quantize(src, dst, ftype):
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = os.cpu_count() or 2
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    assert rc == 0, f"llama_model_quantize({ftype}) returned {rc}"


@pytest.mark.parametrize("type_name", ["q4_k_m", "q4_k_s", "q5_k_m", "q8_0", "q4_0", "q2_k", "q3_k"])
def test_types_and_bytes_equal_llama_cpp_quantize(converted, hf_dir, work, type_name):
    pytest.importorskip("llama_cpp")
    bf16_gguf = converted("rt-bf16.gguf", hf_dir, "--type", "bf16")
    ours = converted(f"{type_name}.gguf", hf_dir, "--type", type_name)
    reference = work / f"llama-cpp-{type_name}.gguf"
    llama_quantize(bf16_gguf, reference, FTYPES[type_name])
    mine, theirs = gguf_tensors(ours), gguf_tensors(reference)
    assert list(mine) == list(theirs), "tensor order differs"
    type_diffs = [(n, mine[n].tensor_type.name, theirs[n].tensor_type.name) for n in mine
                  if mine[n].tensor_type != theirs[n].tensor_type]
    assert not type_diffs, f"{len(type_diffs)} type differences, e.g. {type_diffs[:5]}"
    byte_diffs = [n for n in mine if not np.array_equal(np.asarray(mine[n].data), np.asarray(theirs[n].data))]
    assert not byte_diffs, f"{len(byte_diffs)} tensors differ in bytes, e.g. {byte_diffs[:5]}"
    counts = {}
    for t in mine.values():
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    print(f"\n{type_name}: {len(mine)} tensors identical to llama_model_quantize; types {counts}")


def test_q8_0_bytes_equal_gguf_py(converted, hf_dir, original):
    out = converted("q8_0.gguf", hf_dir, "--type", "q8_0")
    tensors = gguf_tensors(out)
    checked = 0
    for name in ["blk.0.ffn_down.weight", "blk.3.attn_v.weight", "blk.29.ffn_up.weight"]:
        t = tensors[name]
        assert t.tensor_type == gguf.GGMLQuantizationType.Q8_0
        want = gguf.quants.quantize(bf16(original[name]), gguf.GGMLQuantizationType.Q8_0)
        assert np.array_equal(np.asarray(t.data).reshape(-1), want.reshape(-1)), name
        checked += 1
    assert checked == 3


# ---------------------------------------------------------------- llama.cpp loads and runs them

@pytest.fixture(scope="module")
def reference_logits(smollm2, work):
    llama_cpp = pytest.importorskip("llama_cpp")
    f16 = work / "original-f16.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = 1
    params.allow_requantize = True
    assert llama_cpp.llama_model_quantize(smollm2.encode(), str(f16).encode(), params) == 0
    return logits_of(f16)


def logits_of(path):
    import llama_cpp
    llm = llama_cpp.Llama(model_path=str(path), logits_all=True, n_ctx=128, verbose=False, n_threads=os.cpu_count() or 2)
    tokens = llm.tokenize(PROMPT.encode(), add_bos=True)
    llm.eval(tokens)
    scores = np.array(llm.scores[:len(tokens)], dtype=np.float64)
    del llm
    return scores


def log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


# Tolerances: the max |logit difference| over all positions and the mean KL(reference || ours).
# The "f16" output went through BF16 (the HF directory), so it is not bit-identical to F16.
LOGIT_TOLERANCE = {"f16": (0.5, 1e-3), "q8_0": (3.0, 1e-2), "q4_k_m": (8.0, 0.1)}


@pytest.mark.parametrize("type_name", ["f16", "q8_0", "q4_k_m"])
def test_llama_cpp_runs_converted_gguf(converted, hf_dir, reference_logits, type_name):
    out = converted(f"{type_name}.gguf" if type_name != "f16" else "rt-f16.gguf", hf_dir, "--type", type_name)
    ours = logits_of(out)
    assert ours.shape == reference_logits.shape
    max_abs = float(np.abs(ours - reference_logits).max())
    p, q = log_softmax(reference_logits), log_softmax(ours)
    kl = float((np.exp(p) * (p - q)).sum(axis=-1).mean())
    same_top1 = float((ours.argmax(-1) == reference_logits.argmax(-1)).mean())
    print(f"\n{type_name}: max |dlogit| {max_abs:.4f}, mean KL {kl:.2e}, top-1 agreement {same_top1:.2f}")
    max_tol, kl_tol = LOGIT_TOLERANCE[type_name]
    assert max_abs < max_tol and kl < kl_tol


def test_tokenizer_round_trip_through_llama_cpp(converted, hf_dir, smollm2):
    llama_cpp = pytest.importorskip("llama_cpp")
    out = converted("q8_0.gguf", hf_dir, "--type", "q8_0")
    mine = llama_cpp.Llama(model_path=str(out), vocab_only=True, verbose=False)
    theirs = llama_cpp.Llama(model_path=smollm2, vocab_only=True, verbose=False)
    for text in TRICKY_STRINGS:
        for special in (False, True):
            a = mine.tokenize(text.encode(), add_bos=False, special=special)
            b = theirs.tokenize(text.encode(), add_bos=False, special=special)
            assert a == b, (text, special)
    assert mine.tokenize(b"hi", add_bos=True)[0] == theirs.tokenize(b"hi", add_bos=True)[0]
    pre = {str(gguf.GGUFReader(p).fields["tokenizer.ggml.pre"].parts[-1].tobytes(), "utf-8") for p in (str(out), smollm2)}
    assert len(pre) == 1, f"pre-tokenizer names differ: {pre}"


@pytest.mark.parametrize("kind", ["bf16", "int4", "fp8"])
def test_transformers_loads_config_and_tokenizer(converted, smollm2, hparams, kind):
    """transformers (configs and tokenizers need no torch) reads the directories `lowbit convert`
    writes: the Llama config with the model's hyperparameters, the quantization config of the
    compressed-tensors layouts, and a tokenizer that gives llama.cpp's ids on the original GGUF."""
    transformers = pytest.importorskip("transformers")
    llama_cpp = pytest.importorskip("llama_cpp")
    directory = converted(f"hf-{kind}", smollm2, "--type", kind)
    config = transformers.AutoConfig.from_pretrained(str(directory))
    assert type(config).__name__ == "LlamaConfig" and config.model_type == "llama"
    assert config.num_attention_heads == hparams["heads"] and config.num_key_value_heads == hparams["kv_heads"]
    assert config.hidden_size == 576 and config.intermediate_size == 1536 and config.num_hidden_layers == 30
    assert config.vocab_size == 49152 and config.tie_word_embeddings
    quantization = getattr(config, "quantization_config", None)
    if kind == "bf16":
        assert quantization is None
    else:
        assert quantization["quant_method"] == "compressed-tensors"
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory))
    theirs = llama_cpp.Llama(model_path=smollm2, vocab_only=True, verbose=False)
    for text in TRICKY_STRINGS + [PROMPT]:
        assert tokenizer(text, add_special_tokens=False)["input_ids"] == \
            theirs.tokenize(text.encode(), add_bos=False, special=True), text
    assert tokenizer.eos_token_id == theirs.token_eos()


# ---------------------------------------------------------------- safetensors outputs

LINEARS = ["model.layers.0.mlp.down_proj", "model.layers.5.self_attn.q_proj", "model.layers.29.mlp.up_proj"]


@pytest.fixture(scope="module")
def hf_values(hf_dir):
    t = read_checkpoint(hf_dir)
    return {k: v.astype(np.float32) for k, v in t.items()}


@pytest.mark.parametrize("granularity", ["row", "tensor", "block"])
def test_fp8_directory(converted, hf_dir, hf_values, ctq, granularity):
    out = converted(f"fp8-{granularity}", hf_dir, "--type", "fp8", "--fp8-granularity", granularity)
    t = read_checkpoint(out)
    config = json.loads((out / "config.json").read_text())
    qc = config["quantization_config"]
    assert qc["quant_method"] == "compressed-tensors" and qc["format"] == "float-quantized"
    assert qc["quantization_status"] == "compressed" and "lm_head" in qc["ignore"]
    group = next(iter(qc["config_groups"].values()))
    assert group["targets"] == ["Linear"] and group["weights"]["num_bits"] == 8 and group["weights"]["type"] == "float"
    assert group["weights"]["strategy"] == {"row": "channel", "tensor": "tensor", "block": "block"}[granularity]
    assert t["model.embed_tokens.weight"].dtype == ml_dtypes.bfloat16
    for name in LINEARS:
        x = hf_values[name + ".weight"]
        w, scale = t[name + ".weight"], t[name + ".weight_scale"]
        assert w.dtype == ml_dtypes.float8_e4m3fn and w.shape == x.shape
        fmt = {np.dtype(np.float32): "f32", np.dtype(ml_dtypes.bfloat16): "bf16"}[scale.dtype]
        # Lowbit follows PyTorch's arithmetic on BF16 weights; accept F32 arithmetic as well.
        matches = []
        for arithmetic in ("bf16", "f32"):
            codes, want_scale = ctq.fp8_quantize(x, "e4m3", granularity, fmt, arithmetic)
            matches.append(np.array_equal(w.view(np.uint8), codes) and
                           np.array_equal(scale.astype(np.float32).reshape(want_scale.shape), want_scale))
        assert any(matches), f"{name}: FP8 codes / scales differ from the numpy + ml_dtypes oracle"
        s = scale.astype(np.float32)
        if granularity == "block":
            s = np.repeat(np.repeat(s, 128, 0), 128, 1)[:x.shape[0], :x.shape[1]]
        deq = w.astype(np.float32) * s
        # E4M3 keeps 3 mantissa bits: within 2^-4 relative, plus the subnormal step.
        assert np.all(np.abs(deq - x) <= np.abs(x) * 2.0 ** -4 + s * 2.0 ** -9 + 1e-12), name


@pytest.mark.parametrize("bits,asym", [(4, False), (4, True), (8, False)])
def test_pack_quantized_directory(converted, hf_dir, hf_values, ctq, bits, asym):
    args = ["--type", f"int{bits}"] + (["--asym"] if asym else [])
    out = converted(f"int{bits}{'-asym' if asym else ''}", hf_dir, *args)
    t = read_checkpoint(out)
    qc = json.loads((out / "config.json").read_text())["quantization_config"]
    assert qc["format"] == "pack-quantized" and "lm_head" in qc["ignore"]
    for name in LINEARS:
        x = hf_values[name + ".weight"]
        rows, cols = x.shape
        group = 128 if cols % 128 == 0 else 64        # 576-wide rows: 128 does not divide, 64 does
        scale = t[name + ".weight_scale"]
        assert t[name + ".weight_shape"].tolist() == [rows, cols]
        assert scale.shape == (rows, cols // group), name
        # The config names the group size each module uses.
        groups = [g for g in qc["config_groups"].values() if g["weights"]["group_size"] == group]
        assert len(groups) == 1 and groups[0]["weights"]["num_bits"] == bits
        assert groups[0]["weights"]["symmetric"] == (not asym)
        fmt = {np.dtype(np.float32): "f32", np.dtype(ml_dtypes.bfloat16): "bf16"}[scale.dtype]
        matches = []
        for arithmetic in ("bf16", "f32"):
            packed, want_scale, zp, zp_packed, deq = ctq.ct_quantize(x, bits, group, not asym, arithmetic, fmt)
            ok = (np.array_equal(t[name + ".weight_packed"].view(np.uint32), packed)
                  and np.array_equal(scale.astype(np.float32), want_scale))
            if asym:
                ok = ok and np.array_equal(t[name + ".weight_zero_point"].view(np.uint32).reshape(zp_packed.shape), zp_packed)
            matches.append(ok)
            if ok:
                break
        assert any(matches), f"{name}: packed codes / scales differ from the compressed-tensors oracle"
        step = np.repeat(want_scale, group, axis=1)
        assert np.all(np.abs(deq - x) <= step * 1.01 + 1e-9), name


def test_mlx_directory(converted, hf_dir, hf_values, ctq):
    out = converted("mlx-int4", hf_dir, "--type", "int4", "--layout", "mlx")
    t = read_checkpoint(out)
    config = json.loads((out / "config.json").read_text())
    assert config["quantization"] == {"group_size": 64, "bits": 4}
    for name in LINEARS:
        x = hf_values[name + ".weight"]
        w, scales, biases = t[name + ".weight"], t[name + ".scales"], t[name + ".biases"]
        fmt = {np.dtype(np.float32): "f32", np.dtype(ml_dtypes.bfloat16): "bf16"}[scales.dtype]
        packed, want_scale, want_bias, deq = ctq.mlx_quantize(x, 4, 64, fmt)
        assert np.array_equal(w.view(np.uint32), packed), name
        assert np.array_equal(scales.astype(np.float32), want_scale)
        assert np.array_equal(biases.astype(np.float32), want_bias)
        step = np.repeat(np.abs(want_scale), 64, axis=1)
        # Half a step, plus the BF16 rounding of the stored scale (times codes up to 15) and bias.
        assert np.all(np.abs(deq - x) <= step * 1.0 + np.abs(x) * 2.0 ** -6 + 1e-6), name


def test_verify_accepts_outputs_and_rejects_a_corrupted_copy(run_lowbit, converted, hf_dir, work):
    q8 = converted("q8_0.gguf", hf_dir, "--type", "q8_0")
    for path in (hf_dir, q8, converted("int4", hf_dir, "--type", "int4")):
        assert run_lowbit("verify", path, check=False).returncode == 0, path
    bad = work / "corrupted.gguf"
    data = bytearray(q8.read_bytes())
    t = gguf_tensors(q8)["blk.2.ffn_up.weight"]
    data[t.data_offset:t.data_offset + 2] = np.float16(np.nan).tobytes()   # a Q8_0 block scale
    bad.write_bytes(bytes(data))
    proc = run_lowbit("verify", bad, check=False)
    assert proc.returncode != 0 and "blk.2.ffn_up.weight" in proc.stdout + proc.stderr
