"""Nothing lost, nothing left behind: real signals against real `lowbit` runs.

Each test starts a real conversion (or comparison) of the real model, slowed down with the
test-only hook LOWBIT_TEST_SLOW_TENSOR_MS (a sleep after each tensor) so that it can be
interrupted midway, and then checks the exit status, the one-line message, and that no output
and no temporary file is left beside it (`.NAME.lowbit-PID-RANDOM.tmp` for files,
`.NAME.lowbit-PID.tmp` for directories). Killed runs (SIGKILL) leave their temporary output;
the next run to the same output removes it, or continues it with --resume, byte for byte.

Timing is not measured here (that belongs in lowbit-bench); the slow-down only makes the
interrupt land while work is under way.
"""

import fcntl
import filecmp
import json
import os
import pathlib
import resource
import shutil
import signal
import subprocess
import time

import pytest

SLOW = {"LOWBIT_TEST_SLOW_TENSOR_MS": "25"}


def start(lowbit, *args, env_extra=None, preexec=None):
    env = dict(os.environ)
    env.update(env_extra or SLOW)
    return subprocess.Popen([lowbit, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, preexec_fn=preexec)


def temporaries(directory: pathlib.Path):
    return sorted(p.name for p in directory.iterdir() if ".lowbit-" in p.name)


def wait_for_temporary(proc, directory: pathlib.Path, settle=1.0, timeout=60):
    """Waits until the run has created its temporary output, then `settle` seconds more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if temporaries(directory):
            time.sleep(settle)
            assert proc.poll() is None, f"the run ended before it could be interrupted:\n{proc.stderr.read()}"
            return
        if proc.poll() is not None:
            pytest.fail(f"lowbit exited {proc.returncode} before writing anything:\n{proc.stderr.read()}")
        time.sleep(0.02)
    pytest.fail("no temporary output appeared")


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_exit_status_table_is_in_the_readme(repo_root):
    readme = (repo_root / "README.md").read_text()
    for status in ("130", "143", "129"):
        assert f"| {status} |" in readme, f"exit status {status} is not in the README's table"
    assert "--resume" in readme and "--force" in readme


@pytest.mark.parametrize("sig,status,name", [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM"),
                                             (signal.SIGHUP, 129, "SIGHUP")])
@pytest.mark.parametrize("output", ["out.gguf", "out-dir", "out.safetensors"])
def test_signal_removes_the_temporary_output(lowbit, model_path, tmp_path, sig, status, name, output):
    type_name = "q8_0" if output.endswith(".gguf") else "bf16"
    proc = start(lowbit, "convert", model_path, "-o", tmp_path / output, "--type", type_name,
                 "--max-shard-size", "40MB")
    wait_for_temporary(proc, tmp_path)
    proc.send_signal(sig)
    code, _, err = finish(proc)
    assert code == status, err
    lines = [l for l in err.splitlines() if "interrupted" in l]
    assert len(lines) == 1, err
    assert f"lowbit convert interrupted by {name}" in lines[0] and "nothing was written" in lines[0], err
    assert output in lines[0]
    assert list(tmp_path.iterdir()) == [], f"left behind: {list(tmp_path.iterdir())}"


def test_sigint_during_save_base_leaves_nothing(lowbit, model_path, tmp_path, repo_root):
    text = repo_root / ".cache" / "botchan.txt"
    if not text.exists():
        pytest.skip("the default text is fetched by `make data`")
    base = tmp_path / "base.logits"
    proc = start(lowbit, "compare", model_path, model_path, "--text", text, "--chunks", "40",
                 "--ctx", "128", "--save-base", base, env_extra={})
    wait_for_temporary(proc, tmp_path, settle=0.5)
    proc.send_signal(signal.SIGINT)
    code, _, err = finish(proc)
    assert code == 130, err
    assert "lowbit compare interrupted by SIGINT" in err and "base.logits" in err
    assert list(tmp_path.iterdir()) == []


def kill_midway(lowbit, model_path, directory, output, *args, settle=1.5):
    proc = start(lowbit, "convert", model_path, "-o", directory / output, *args)
    wait_for_temporary(proc, directory, settle=settle)
    proc.kill()
    proc.wait()
    left = temporaries(directory)
    assert left, "a SIGKILLed run should leave its temporary output (nothing can remove it)"
    return left


@pytest.mark.parametrize("output,args", [("out.gguf", ["--type", "q8_0"]),
                                         ("out-dir", ["--type", "bf16", "--max-shard-size", "40MB"])])
def test_sigkill_then_rerun_removes_the_stale_temporary(lowbit, model_path, tmp_path, output, args):
    left = kill_midway(lowbit, model_path, tmp_path, output, *args)
    proc = subprocess.run([lowbit, "convert", model_path, "-o", tmp_path / output, *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in left:
        assert f"removed {tmp_path / name}" in proc.stderr or f"removed ./{name}" in proc.stderr or name in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [output]


def test_live_temporary_is_never_removed(lowbit, model_path, tmp_path):
    """A temporary output whose lock a live process holds is left alone; once released, it is stale."""
    fake = tmp_path / ".out.gguf.lowbit-1-42.tmp"
    fake.write_bytes(b"being written")
    with open(fake, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.run([lowbit, "convert", model_path, "-o", tmp_path / "out.gguf", "--type", "q8_0"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert fake.exists(), "removed a temporary output that a live run holds"
    os.remove(tmp_path / "out.gguf")
    proc = subprocess.run([lowbit, "convert", model_path, "-o", tmp_path / "out.gguf", "--type", "q8_0"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and not fake.exists(), proc.stderr
    # Names that only look alike are not Lowbit's and are never touched.
    other = tmp_path / ".out.gguf.lowbit-notapid.tmp"
    other.write_bytes(b"x")
    os.remove(tmp_path / "out.gguf")
    subprocess.run([lowbit, "convert", model_path, "-o", tmp_path / "out.gguf", "--type", "q8_0"],
                   capture_output=True, text=True, timeout=300, check=True)
    assert other.exists()


@pytest.fixture(scope="module")
def reference_dir(lowbit, model_path, tmp_path_factory):
    """An uninterrupted directory conversion to hold resumed runs against."""
    out = tmp_path_factory.mktemp("reference") / "out-dir"
    summary = json.loads(subprocess.run(
        [lowbit, "convert", model_path, "-o", out, "--type", "bf16", "--max-shard-size", "40MB", "--json"],
        capture_output=True, text=True, timeout=300, check=True).stdout)
    assert summary["shards"] == {"reused": 0, "written": len(list(out.glob("model-*.safetensors")))}
    assert len(list(out.glob("model-*.safetensors"))) >= 4
    return out


def same_tree(a: pathlib.Path, b: pathlib.Path):
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert filecmp.cmp(a / name, b / name, shallow=False), f"{name} differs"


@pytest.mark.parametrize("verify", [False, True])
def test_sigkill_then_resume_is_byte_identical(lowbit, model_path, tmp_path, reference_dir, verify):
    args = ["--type", "bf16", "--max-shard-size", "40MB"]
    kill_midway(lowbit, model_path, tmp_path, "out-dir", *args, settle=3.5)
    proc = subprocess.run([lowbit, "convert", model_path, "-o", tmp_path / "out-dir", *args, "--resume", "--json"]
                          + (["--verify"] if verify else []), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    total = len(list(reference_dir.glob("model-*.safetensors")))
    assert summary["shards"]["reused"] >= 1, proc.stderr
    assert summary["shards"]["reused"] + summary["shards"]["written"] == total
    assert "resuming" in proc.stderr
    same_tree(reference_dir, tmp_path / "out-dir")
    assert temporaries(tmp_path) == []


def test_resume_rewrites_a_corrupted_shard_found_by_verify(lowbit, model_path, tmp_path, reference_dir):
    """A byte changed in the middle of a finished shard passes the quick check (size, last MiB)
    but not --verify, which writes that shard again."""
    args = ["--type", "bf16", "--max-shard-size", "40MB"]
    kill_midway(lowbit, model_path, tmp_path, "out-dir", *args, settle=3.5)
    temp = next(p for p in tmp_path.iterdir() if p.is_dir())
    manifest = json.loads((temp / "lowbit-resume.json").read_text())
    first = temp / manifest["shards"][0]["name"]
    with open(first, "r+b") as f:
        f.seek(100_000)
        byte = f.read(1)
        f.seek(100_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    proc = subprocess.run([lowbit, "convert", model_path, "-o", tmp_path / "out-dir", *args, "--resume", "--verify",
                           "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["shards"]["reused"] == 0
    assert "does not match its record" in proc.stderr
    same_tree(reference_dir, tmp_path / "out-dir")


def test_resume_refuses_a_different_plan(lowbit, model_path, tmp_path):
    kill_midway(lowbit, model_path, tmp_path, "out-dir", "--type", "bf16", "--max-shard-size", "40MB", settle=3.5)
    proc = subprocess.run([lowbit, "convert", model_path, "-o", tmp_path / "out-dir", "--type", "f16",
                           "--max-shard-size", "40MB", "--resume"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "cannot resume" in proc.stderr and "different plan" in proc.stderr
    assert not (tmp_path / "out-dir").exists()
    assert len(temporaries(tmp_path)) == 1, "the refused run must not touch the earlier run's shards"


def test_resume_of_a_single_file_says_it_restarts(lowbit, model_path, tmp_path):
    proc = subprocess.run([lowbit, "convert", model_path, "-o", tmp_path / "out.gguf", "--type", "q8_0", "--resume"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "starts from the beginning" in proc.stderr


def limit_file_size(limit):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("output,type_name", [("out.gguf", "q8_0"), ("out-dir", "bf16")])
def test_file_too_large_is_a_clear_error(lowbit, model_path, tmp_path, output, type_name):
    proc = start(lowbit, "convert", model_path, "-o", tmp_path / output, "--type", type_name,
                 env_extra={}, preexec=limit_file_size(20_000_000))
    code, _, err = finish(proc)
    assert code == 1, err
    assert "File too large" in err and output in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=30m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_free_space_is_checked_before_writing(lowbit, model_path, small_tmpfs):
    proc = subprocess.run([lowbit, "convert", model_path, "-o", small_tmpfs / "out-dir", "--type", "bf16"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "not enough free space" in proc.stderr and "--force" in proc.stderr, proc.stderr
    assert list(small_tmpfs.iterdir()) == []


@pytest.mark.parametrize("output,type_name", [("out.gguf", "q8_0"), ("out-dir", "bf16")])
def test_disk_full_is_a_clear_error(lowbit, model_path, small_tmpfs, output, type_name):
    proc = subprocess.run([lowbit, "convert", model_path, "-o", small_tmpfs / output, "--type", type_name, "--force"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "No space left on device" in proc.stderr and output in proc.stderr, proc.stderr
    assert list(small_tmpfs.iterdir()) == []


def start_on_a_copy(lowbit, model_path, tmp_path, slow_ms):
    """Starts converting a copy of the model (which the test then alters) into tmp_path/out."""
    source = tmp_path / "source.gguf"
    shutil.copyfile(model_path, source)
    out = tmp_path / "out"
    out.mkdir()
    proc = start(lowbit, "convert", source, "-o", out / "out.gguf", "--type", "q8_0",
                 env_extra={"LOWBIT_TEST_SLOW_TENSOR_MS": str(slow_ms)})
    wait_for_temporary(proc, out, settle=0.5)
    return source, out, proc


def test_source_truncated_between_tensors(lowbit, model_path, tmp_path):
    source, out, proc = start_on_a_copy(lowbit, model_path, tmp_path, 60)
    os.truncate(source, os.path.getsize(source) // 2)
    code, _, err = finish(proc)
    assert code == 1, err
    assert str(source) in err and ("shrank" in err), err
    assert list(out.iterdir()) == []


def test_source_replaced_is_a_warning_only(lowbit, model_path, tmp_path):
    """Replacing the input's path (not its contents) is harmless: the opened file stays mapped."""
    source, out, proc = start_on_a_copy(lowbit, model_path, tmp_path, 25)
    os.rename(source, tmp_path / "moved.gguf")
    source.write_bytes(b"something else")
    code, _, err = finish(proc)
    assert code == 0, err
    assert "names a different file" in err
    reference = tmp_path / "reference.gguf"
    subprocess.run([lowbit, "convert", tmp_path / "moved.gguf", "-o", reference, "--type", "q8_0"],
                   capture_output=True, check=True, timeout=300)
    assert filecmp.cmp(reference, out / "out.gguf", shallow=False)


@pytest.mark.parametrize("sig,status,name", [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_signal_during_imatrix_leaves_nothing(lowbit, model_path, tmp_path, repo_root, sig, status, name):
    text = repo_root / ".cache" / "botchan.txt"
    if not text.exists():
        pytest.skip("the default text is fetched by `make data`")
    proc = start(lowbit, "imatrix", model_path, "--text", text, "--chunks", "40", "--ctx", "128",
                 "-o", tmp_path / "imatrix.gguf", env_extra={})
    time.sleep(3)  # mid-run: the file is written only after the last chunk
    assert proc.poll() is None, f"the run ended before it could be interrupted:\n{proc.stderr.read()}"
    proc.send_signal(sig)
    code, _, err = finish(proc)
    assert code == status, err
    assert f"lowbit imatrix interrupted by {name}" in err
    assert list(tmp_path.iterdir()) == [], f"left behind: {list(tmp_path.iterdir())}"
