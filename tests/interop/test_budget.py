"""`lowbit convert --target-bpw / --target-size` on the real model: the budget is never exceeded,
the file holds exactly the types the JSON report says (read back with gguf-py), llama.cpp loads
and runs it (llama-cpp-python 0.3.36), and a budget below the smallest choice is refused with
the smallest size reachable."""

import json
import os
import subprocess

import numpy as np
import pytest
from gguf import GGUFReader

PROMPT = "The boy was twelve years old when he first saw the sea, and it seemed to him"


def convert(lowbit, model_path, out, *extra):
    proc = subprocess.run([lowbit, "convert", model_path, "-o", str(out), "--type", "q4_k_m", "--json", *extra],
                          capture_output=True, text=True)
    return proc


@pytest.mark.parametrize("budget", [["--target-bpw", "5.6"], ["--target-size", "99MB"]])
def test_budget_is_kept_and_llama_cpp_runs_the_file(lowbit, model_path, tmp_path, budget):
    out = tmp_path / "budget.gguf"
    proc = convert(lowbit, model_path, out, *budget)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["budget"]
    assert report["tensor_bytes"] <= report["budget_bytes"]
    if budget[0] == "--target-bpw":
        assert report["bits_per_weight"] <= 5.6
        assert report["budget_bytes"] == int(5.6 * report["parameters"] / 8)
    else:
        assert report["budget_bytes"] == 99_000_000
    # The file's tensor data is what the report says, and each chosen tensor has its type.
    reader = GGUFReader(str(out))
    data = sum(int(t.n_bytes) for t in reader.tensors)
    assert data == report["tensor_bytes"]
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    chosen = {t["name"]: t["type"] for t in report["tensors"]}
    assert len(chosen) == 210  # every decoder linear of SmolLM2's 30 layers
    for name, type_name in chosen.items():
        assert types[name] == type_name, name
    # The mix is not uniform: the budget spends bytes where the predicted loss falls most.
    assert len(set(chosen.values())) >= 2
    # Every choice is its candidates' least loss among those no larger, or it would waste bytes.
    for t in report["tensors"]:
        cheaper_better = [c for c in t["candidates"] if c["bytes"] <= t["bytes"] and c["predicted_loss"] < t["predicted_loss"]]
        assert not cheaper_better, (t["name"], cheaper_better)

    llama_cpp = pytest.importorskip("llama_cpp")
    llm = llama_cpp.Llama(model_path=str(out), logits_all=True, n_ctx=64, verbose=False, n_threads=os.cpu_count() or 2)
    tokens = llm.tokenize(PROMPT.encode(), add_bos=True)
    llm.eval(tokens)
    scores = np.array(llm.scores[:len(tokens)], dtype=np.float64)
    assert np.isfinite(scores).all() and scores.std() > 0


def test_budget_below_the_smallest_choice_is_refused(lowbit, model_path, tmp_path):
    out = tmp_path / "small.gguf"
    proc = convert(lowbit, model_path, out, "--target-bpw", "2")
    assert proc.returncode == 1
    assert "below the smallest choice" in proc.stderr and "bits per weight" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,message", [
    (["--target-bpw", "5", "--target-size", "90MB"], "not both"),
    (["--target-bpw", "0"], "--target-bpw must be above 0"),
    (["--target-size", "lots"], "--target-size: cannot read"),
    (["--target-bpw", "5", "--candidates", "q4_k,bogus"], "'bogus' is not a GGUF type"),
    (["--candidates", "q4_k"], "--candidates needs --target-bpw"),
])
def test_budget_usage_errors_exit_two(lowbit, model_path, tmp_path, args, message):
    proc = convert(lowbit, model_path, tmp_path / "x.gguf", *args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_budget_needs_a_gguf_output(lowbit, model_path, tmp_path):
    proc = subprocess.run([lowbit, "convert", model_path, "-o", str(tmp_path / "d"), "--type", "int4", "--target-bpw", "5"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "choose GGUF types" in proc.stderr
