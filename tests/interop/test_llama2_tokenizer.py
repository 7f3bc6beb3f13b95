"""Llama-2-style (SentencePiece BPE, byte fallback) tokenizers through `lowbit convert`.

A tiny Llama GGUF (random weights) carrying the SentencePiece vocabulary of
fixtures/tokenizer/llama2-gguf-tokenizer.json (a real 1000-piece SentencePiece BPE model, made by
fixtures/tokenizer/make_llama2_fixtures.py) is written with gguf-py, then

  * `lowbit convert X.gguf -o DIR` must write a tokenizer.json that the `tokenizers` package
    loads and that tokenizes like the GGUF does in llama.cpp (and like the committed oracle ids);
  * `lowbit convert DIR -o Y.gguf` must give back a GGUF vocabulary that llama.cpp tokenizes
    like `tokenizers` tokenizes DIR's tokenizer.json;
  * `lowbit perplexity DIR` must read that tokenizer.json and count the tokens `tokenizers` gives.
"""

import json
import pathlib

import numpy as np
import pytest

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "tokenizer"
EMBED, FF, HEADS, LAYERS = 32, 64, 4, 1


def load(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cases():
    return load("llama2-cases.json")


@pytest.fixture(scope="module")
def texts(cases, repo_root):
    """The fixture's tricky texts plus, when present, botchan.txt whole and its first 300 lines."""
    out = list(cases["texts"])
    botchan = repo_root / ".cache" / "botchan.txt"
    if botchan.exists():
        with open(botchan, encoding="utf-8", newline="") as f:
            whole = f.read()
        out += [whole] + whole.split("\n")[:300]
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("llama2tok")


@pytest.fixture(scope="module")
def tiny_gguf(work):
    """A one-layer Llama GGUF with random F32 weights and the SentencePiece vocabulary."""
    gguf = pytest.importorskip("gguf")
    vocab = load("llama2-gguf-tokenizer.json")
    tokens = vocab["tokenizer.ggml.tokens"]
    types = [1] * len(tokens)
    for i, t in vocab["tokenizer.ggml.token_type"].items():
        types[int(i)] = t
    path = work / "tiny-llama2.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(64); w.add_embedding_length(EMBED); w.add_block_count(LAYERS)
    w.add_feed_forward_length(FF); w.add_head_count(HEADS); w.add_head_count_kv(HEADS)
    w.add_rope_dimension_count(EMBED // HEADS); w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5); w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens); w.add_token_scores(vocab["tokenizer.ggml.scores"]); w.add_token_types(types)
    w.add_bos_token_id(1); w.add_eos_token_id(2); w.add_unk_token_id(0)
    w.add_add_bos_token(True); w.add_add_eos_token(False); w.add_add_space_prefix(True)
    rng = np.random.default_rng(20261122)

    def rand(*shape):
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    w.add_tensor("token_embd.weight", rand(len(tokens), EMBED))
    w.add_tensor("output_norm.weight", np.ones(EMBED, dtype=np.float32))
    w.add_tensor("output.weight", rand(len(tokens), EMBED))
    for b in range(LAYERS):
        w.add_tensor(f"blk.{b}.attn_norm.weight", np.ones(EMBED, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(f"blk.{b}.{name}.weight", rand(EMBED, EMBED))
        w.add_tensor(f"blk.{b}.ffn_norm.weight", np.ones(EMBED, dtype=np.float32))
        w.add_tensor(f"blk.{b}.ffn_gate.weight", rand(FF, EMBED))
        w.add_tensor(f"blk.{b}.ffn_up.weight", rand(FF, EMBED))
        w.add_tensor(f"blk.{b}.ffn_down.weight", rand(EMBED, FF))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    return path


@pytest.fixture(scope="module")
def hf_dir(run_lowbit, tiny_gguf, work):
    out = work / "hf"
    run_lowbit("convert", tiny_gguf, "-o", out, "--type", "bf16")
    return out


def hf_tokenizer(directory):
    tokenizers = pytest.importorskip("tokenizers")
    return tokenizers.Tokenizer.from_file(str(directory / "tokenizer.json"))


def llama_cpp_ids(gguf_path, texts):
    llama_cpp = pytest.importorskip("llama_cpp")
    llm = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    return [llm.tokenize(t.encode("utf-8"), add_bos=True, special=True) for t in texts]


def differing(texts, got, want):
    return [(t[:40], g[:12], w[:12]) for t, g, w in zip(texts, got, want) if g != w]


def test_exported_tokenizer_json_matches_the_oracle_ids(hf_dir, cases):
    tok = hf_tokenizer(hf_dir)
    for mode, add in (("add=1,special=1", True), ("add=0,special=1", False)):
        got = [tok.encode(t, add_special_tokens=add).ids for t in cases["texts"]]
        assert differing(cases["texts"], got, cases["tokenizers"]["normalizer"][mode]) == [], mode
    config = json.loads((hf_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["add_bos_token"] is True and config["bos_token"] == "<s>" and config["unk_token"] == "<unk>"
    model = json.loads((hf_dir / "tokenizer.json").read_text(encoding="utf-8"))["model"]
    assert model["byte_fallback"] is True and model["fuse_unk"] is True and model["unk_token"] == "<unk>"


def test_transformers_loads_the_exported_directory(hf_dir, tiny_gguf, texts):
    """transformers (configs and tokenizers need no torch) reads the written directory: its
    tokenizer, with tokenizer_config.json's settings, gives llama.cpp's ids on the GGUF."""
    transformers = pytest.importorskip("transformers")
    config = transformers.AutoConfig.from_pretrained(str(hf_dir))
    assert config.model_type == "llama" and config.hidden_size == EMBED and config.num_hidden_layers == LAYERS
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(hf_dir))
    assert tokenizer.bos_token == "<s>" and tokenizer.unk_token == "<unk>"
    got = [tokenizer(t)["input_ids"] for t in texts]
    assert differing(texts, got, llama_cpp_ids(tiny_gguf, texts)) == []


def test_exported_tokenizer_json_tokenizes_like_the_gguf(hf_dir, tiny_gguf, texts):
    tok = hf_tokenizer(hf_dir)
    hf = [tok.encode(t, add_special_tokens=True).ids for t in texts]
    assert differing(texts, hf, llama_cpp_ids(tiny_gguf, texts)) == []


def test_exported_tokenizer_json_decodes(hf_dir, cases):
    tok = hf_tokenizer(hf_dir)
    for text in cases["texts"]:
        if any(s in text for s in ("<s>", "</s>", "<unk>", "\u2581")):
            continue
        assert tok.decode(tok.encode(text, add_special_tokens=True).ids, skip_special_tokens=True) == text


def test_hf_directory_converts_back_to_a_llama_vocabulary(run_lowbit, hf_dir, work, texts):
    gguf = pytest.importorskip("gguf")
    out = work / "back.gguf"
    run_lowbit("convert", hf_dir, "-o", out, "--type", "f16")
    reader = gguf.GGUFReader(str(out))
    model = reader.fields["tokenizer.ggml.model"]
    assert bytes(model.parts[model.data[0]]).decode() == "llama"
    types = reader.fields["tokenizer.ggml.token_type"]
    assert [int(types.parts[i][0]) for i in types.data[:4]] == [2, 3, 3, 6]
    tok = hf_tokenizer(hf_dir)
    hf = [tok.encode(t, add_special_tokens=True).ids for t in texts]
    assert differing(texts, llama_cpp_ids(out, texts), hf) == []


def test_perplexity_reads_the_hf_tokenizer(lowbit_json, hf_dir, tiny_gguf, work, repo_root):
    botchan = repo_root / ".cache" / "botchan.txt"
    if botchan.exists():
        path = botchan
    else:
        path = work / "ppl.txt"
        path.write_text(" ".join(load("llama2-cases.json")["texts"]) * 20, encoding="utf-8")
    with open(path, encoding="utf-8", newline="") as f:  # keep "\r\n" as lowbit reads it
        text = f.read()
    expected = len(hf_tokenizer(hf_dir).encode(text, add_special_tokens=True).ids)
    hf = lowbit_json("perplexity", hf_dir, "--text", path, "--ctx", "32", "--chunks", "2", "--json")
    gguf = lowbit_json("perplexity", tiny_gguf, "--text", path, "--ctx", "32", "--chunks", "2", "--json")
    assert hf["tokens"] == gguf["tokens"] == expected
    assert hf["perplexity"] == pytest.approx(gguf["perplexity"], rel=2e-2)


@pytest.mark.parametrize("variant", ["normalizer", "metaspace", "legacy-metaspace", "normalized-added"])
def test_committed_oracle_ids_are_current(cases, variant):
    """The fixture ids (which the Swift tests compare Lowbit with) are what `tokenizers` gives."""
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(FIXTURES / f"llama2-{variant}.tokenizer.json"))
    for mode, add in (("add=1,special=1", True), ("add=0,special=1", False)):
        got = [tok.encode(t, add_special_tokens=add).ids for t in cases["texts"]]
        assert differing(cases["texts"], got, cases["tokenizers"][variant][mode]) == [], mode
