"""The tokenizer oracle fixtures are current.

Lowbit's tokenizer is tested in Swift (Tests/LowbitTokenizerTests) against ids that llama.cpp
(llama-cpp-python) and Hugging Face `tokenizers` produced, committed in fixtures/tokenizer/ by
fixtures/tokenizer/make_fixtures.py. This module re-asks the oracles on the same inputs, so a
fixture that no longer matches the pinned oracle versions fails here instead of silently.
"""

import json
import pathlib

import pytest

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "tokenizer"
MODES = {"add=1,special=0": (True, False), "add=1,special=1": (True, True), "add=0,special=1": (False, True)}


def load(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_smollm2_llama_cpp_ids_are_current(model_path):
    llama_cpp = pytest.importorskip("llama_cpp")
    cases = load("smollm2-cases.json")
    llm = llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False)
    for mode, expected in cases["llama_cpp"].items():
        add, special = MODES[mode]
        for text, ids in zip(cases["texts"], expected):
            assert llm.tokenize(text.encode("utf-8"), add_bos=add, special=special) == ids, (mode, text)


def test_smollm2_vocabulary_fixture_matches_the_model(model_path):
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(model_path)
    field = reader.fields["tokenizer.ggml.tokens"]
    tokens = [bytes(field.parts[i]).decode("utf-8") for i in field.data]
    assert load("smollm2-gguf-tokenizer.json")["tokenizer.ggml.tokens"] == tokens


def test_tiny_tokenizers_ids_are_current():
    tokenizers = pytest.importorskip("tokenizers")
    cases = load("tiny-cases.json")
    for style, modes in cases["tokenizers"].items():
        tok = tokenizers.Tokenizer.from_file(str(FIXTURES / f"tiny-{style}.tokenizer.json"))
        for mode, expected in modes.items():
            add, special = MODES[mode]
            tok.encode_special_tokens = not special
            for text, ids in zip(cases["texts"], expected):
                assert tok.encode(text, add_special_tokens=add).ids == ids, (style, mode, text)
