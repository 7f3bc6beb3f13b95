"""Shared fixtures of Lowbit's Python interop suite.

The suite checks Lowbit against independent implementations (gguf-py, the `safetensors`
package, ml_dtypes, numpy, llama.cpp through llama-cpp-python). It runs the built `lowbit`
binary: set LOWBIT to its path, or build it first (`swift build -c release`, giving
.build/release/lowbit).

Fixtures:
  repo_root      the repository root (pathlib.Path)
  lowbit         path of the lowbit binary (str)
  run_lowbit     run_lowbit(*args, check=True) -> subprocess.CompletedProcess (text mode)
  lowbit_json    lowbit_json(*args) -> the parsed JSON lowbit printed on stdout
  model_path     the real model, SmolLM2-135M-Instruct Q4_1 GGUF (LOWBIT_MODEL, or downloaded
                 once with scripts/fetch-model.sh into .cache/)
  session_tmp    a temporary directory shared by the whole session (pytest's tmp_path gives
                 one per test)
"""

import json
import os
import pathlib
import sys
import subprocess

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def lowbit() -> str:
    path = os.environ.get("LOWBIT") or str(REPO_ROOT / ".build" / "release" / "lowbit")
    if not os.access(path, os.X_OK):
        pytest.fail(f"lowbit binary not found at {path}: run `swift build -c release` or set LOWBIT")
    return path


@pytest.fixture(scope="session")
def run_lowbit(lowbit):
    def run(*args, check=True, timeout=600):
        proc = subprocess.run([lowbit, *map(str, args)], capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"lowbit {' '.join(map(str, args))} exited {proc.returncode}\nstderr:\n{proc.stderr}")
        return proc
    return run


@pytest.fixture(scope="session")
def lowbit_json(run_lowbit):
    def run(*args, timeout=600):
        return json.loads(run_lowbit(*args, timeout=timeout).stdout)
    return run


def _fetch_model() -> str:
    """The real model's path: LOWBIT_MODEL, or fetched once with scripts/fetch-model.sh."""
    path = os.environ.get("LOWBIT_MODEL")
    if not path:
        proc = subprocess.run([str(REPO_ROOT / "scripts" / "fetch-model.sh")], capture_output=True,
                              text=True, timeout=1800)
        if proc.returncode != 0:
            pytest.fail(f"scripts/fetch-model.sh failed:\n{proc.stderr}")
        path = proc.stdout.strip().splitlines()[-1]
    if not os.path.isfile(path):
        pytest.fail(f"the real model is missing at {path}")
    return path


@pytest.fixture(scope="session", autouse=True)
def real_model_available():
    """Fetches the real model before any test runs and exports LOWBIT_MODEL, so that every test
    module (including those that look the model up themselves) finds it instead of skipping.
    Set LOWBIT_OFFLINE=1 to run without it (the tests that need it then skip)."""
    if os.environ.get("LOWBIT_OFFLINE") == "1":
        return
    os.environ["LOWBIT_MODEL"] = _fetch_model()


@pytest.fixture(scope="session")
def model_path() -> str:
    return _fetch_model()


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("lowbit")


@pytest.fixture(scope="session")
def lowbit_convert() -> str:
    """The `lowbit` binary, once `convert` is known to be built into it."""
    from oracles import lowbit_with
    return lowbit_with("convert")


@pytest.fixture(scope="session")
def ggml():
    """llama.cpp's libggml through llama-cpp-python (ctypes), for ggml_quantize_chunk."""
    pytest.importorskip("llama_cpp")
    sys.path.insert(0, str(REPO_ROOT / "fixtures" / "kquants"))
    from make_kquant_fixtures import load_ggml
    return load_ggml()
