"""`lowbit convert --method awq` on the real model: an interrupt during the scale search leaves
nothing behind (the output is only created once the search is over)."""

import signal
import subprocess
import time

import pytest


@pytest.mark.parametrize("sig,status,name", [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_signal_during_awq_search_leaves_nothing(lowbit, model_path, tmp_path, repo_root, sig, status, name):
    text = repo_root / ".cache" / "botchan.txt"
    if not text.exists():
        pytest.skip("the default text is fetched by `make data`")
    out = tmp_path / "out"
    proc = subprocess.Popen([lowbit, "convert", model_path, "-o", out, "--type", "int4", "--method", "awq",
                             "--calibration", text, "--calibration-chunks", "8", "--calibration-ctx", "128"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # in the search: the model is loaded and the layers are being walked
    assert proc.poll() is None, f"the run ended before it could be interrupted:\n{proc.stderr.read()}"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    assert f"lowbit convert interrupted by {name}" in err
    assert list(tmp_path.iterdir()) == [], f"left behind: {list(tmp_path.iterdir())}"
