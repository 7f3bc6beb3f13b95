"""Helpers shared by the interop tests: where the real SmolLM2 model and the `lowbit` binary are.

Imported by the test modules as `oracles` (pytest puts tests/interop on sys.path, as it holds no
__init__.py).
"""

import os
import pathlib
import subprocess

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SMOLLM2_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_smollm2() -> str | None:
    """The path of the real SmolLM2 Q4_1 model, or None when it is not on this machine.

    Looks at env LOWBIT_SMOLLM2 and LOWBIT_MODEL (a file, or a folder holding it), the CI cache
    (env LOWBIT_CACHE, default <repo>/.cache, directly or under smollm2/) and /tmp/smollm2/.
    """
    cache = pathlib.Path(os.environ.get("LOWBIT_CACHE") or REPO_ROOT / ".cache")
    for candidate in (os.environ.get("LOWBIT_SMOLLM2"), os.environ.get("LOWBIT_MODEL"),
                      cache / "smollm2" / SMOLLM2_NAME, cache / SMOLLM2_NAME,
                      pathlib.Path("/tmp/smollm2") / SMOLLM2_NAME):
        if not candidate:
            continue
        path = pathlib.Path(candidate)
        if path.is_dir():
            path = path / SMOLLM2_NAME
        if path.is_file():
            return str(path)
    return None


def smollm2_or_skip() -> str:
    """The path of the real SmolLM2 model; skips the calling test when it is absent."""
    path = find_smollm2()
    if path is None:
        pytest.skip(f"{SMOLLM2_NAME} not found (set LOWBIT_SMOLLM2)")
    return path


def lowbit_with(subcommand: str) -> str:
    """The path of the built `lowbit` binary (env LOWBIT, default .build/release/lowbit); skips
    the calling test when it is missing or does not offer `subcommand` yet."""
    path = os.environ.get("LOWBIT") or str(REPO_ROOT / ".build" / "release" / "lowbit")
    if not os.access(path, os.X_OK):
        pytest.skip(f"lowbit binary not found at {path}")
    probe = subprocess.run([path, subcommand, "--help"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"this lowbit binary has no {subcommand} command yet")
    return path


def ctq_oracle():
    """The numpy reimplementations of compressed-tensors and MLX in fixtures/ctq/make_fixtures.py,
    loaded as a module (the folder is not a package)."""
    import importlib.util

    path = REPO_ROOT / "fixtures" / "ctq" / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("ctq_make_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
