"""The scripts in examples/ run end to end on the smallest budget and leave what they promise.

Each runs as its own process (as a user would run it), on one thread, with a fresh GANKIT_CACHE,
writing only under tmp_path.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, *args, tmp_path):
    env = {**os.environ, "GANKIT_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_train_toy(tmp_path):
    out = tmp_path / "ring8"
    stdout = run_example("train_toy.py", "--steps", "20", "--every", "10", "--out", str(out), tmp_path=tmp_path)
    assert stdout.count("[callback] step") == 2  # the on_log callback, every 10 steps
    assert "the callback collected 20 rows of losses" in stdout  # one row per step
    for name in ("modes captured", "high quality", "reverse KL", "W1 to the data", "five samples"):
        assert name in stdout
    for file in ("config.json", "stats.jsonl", "generator.safetensors", "metrics.json", "samples.png"):
        assert (out / file).is_file(), file
    assert json.loads((out / "config.json").read_text())["train"]["steps"] == 20


def test_own_networks(tmp_path):
    out = tmp_path / "own"
    stdout = run_example("own_networks.py", "--steps", "20", "--out", str(out), tmp_path=tmp_path)
    assert "model.name recorded: custom, z_dim 2" in stdout
    assert "reverse KL" in stdout
    assert "reloaded generator from step 20 (ema=True); samples (1000, 2), same as in memory: True" in stdout
    config = json.loads((out / "config.json").read_text())
    assert (config["model"]["name"], config["loss"]["name"]) == ("custom", "wgan-gp")
    assert any((out / "checkpoints").glob("step_*.ckpt"))


def test_score_samples(tmp_path):
    out = tmp_path / "score"
    stdout = run_example("score_samples.py", "--quick", "--out", str(out), tmp_path=tmp_path)
    lines = dict(line.split(" {", 1) for line in stdout.splitlines() if " {" in line)
    lines = {title.strip(): metrics for title, metrics in lines.items()}
    assert "'modes_captured': 8" in lines["ring8, true samples"]
    assert "'modes_captured': 3" in lines["ring8, 3 modes only"]
    for title in ("digits, real (.npz)", "digits, classes 0 and 1 only", "digits, noisy (folder of PNGs)"):
        assert "'fid':" in lines[title] and "'recall':" in lines[title], title
    assert "'classes_covered': 2" in lines["digits, classes 0 and 1 only"]
    assert (out / "digits-classifier.safetensors").is_file()  # the cache is empty: it trained one
    assert (out / "digits-real.npz").is_file() and len(list((out / "digits-noisy").glob("*.png"))) == 400
    # the file mode scores a folder of PNGs the same as the demo did
    again = run_example("score_samples.py", "--quick", "--out", str(out), "--samples", str(out / "digits-noisy"),
                        tmp_path=tmp_path)
    assert again.splitlines()[-1].split(" {", 1)[1] == lines["digits, noisy (folder of PNGs)"]


def test_reproduce_figure(tmp_path):
    out = tmp_path / "figs"
    stdout = run_example("reproduce_figure.py", "parallel-lines", "--quick", "--out", str(out), tmp_path=tmp_path)
    assert f"figure: {out / 'parallel-lines.png'}" in stdout
    assert (out / "parallel-lines.png").stat().st_size > 10_000
    assert json.loads((out / "parallel-lines.json").read_text())["meta"]["quick"] is True
