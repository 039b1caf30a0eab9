"""``gankit divergence``: tables checked against scipy / POT, one-line errors with exit status 2."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import ot
import pytest
import scipy.stats
from scipy.spatial.distance import jensenshannon

import gankit.cli
from gankit.cli import main

LOG2 = math.log(2.0)
NUMBER = r"(inf|[-+]?\d+\.\d+)"


@pytest.fixture
def cli(monkeypatch):
    """Register the command for this test only (the lead registers it for real)."""
    monkeypatch.setitem(gankit.cli.COMMANDS, "divergence", "divergence")
    return main


def _value(out: str, label: str) -> float:
    match = re.search(re.escape(label) + r"\s+" + NUMBER, out)
    assert match, f"{label!r} not in output:\n{out}"
    return float(match.group(1))


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("gankit divergence: error: ")
    assert "Traceback" not in captured.err
    return lines[0]


def test_masses_table_matches_scipy(cli, capsys):
    p, q = np.array([0.1, 0.4, 0.5]), np.array([0.3, 0.3, 0.4])
    assert cli(["divergence", "--p", "0.1,0.4,0.5", "--q", "0.3,0.3,0.4"]) == 0
    out = capsys.readouterr().out
    assert _value(out, "KL(p || q)") == pytest.approx(scipy.stats.entropy(p, q), abs=6e-7)
    assert _value(out, "KL(q || p)") == pytest.approx(scipy.stats.entropy(q, p), abs=6e-7)
    assert _value(out, "JS(p, q)") == pytest.approx(jensenshannon(p, q) ** 2, abs=6e-7)
    w1 = scipy.stats.wasserstein_distance([0, 1, 2], [0, 1, 2], p, q)
    assert _value(out, "W1(p, q)") == pytest.approx(w1, abs=6e-7)
    assert "nats" in out
    # an aligned table: every value ends in the same column
    rows = [line for line in out.splitlines() if line.startswith(("KL(", "JS(", "W1("))]
    ends = {re.search(NUMBER, line).end() for line in rows}
    assert len(rows) == 4 and len(ends) == 1


def test_masses_base_two_and_infinite_kl(cli, capsys):
    assert cli(["divergence", "--p", "1,1,0", "--q", "1,1,2", "--base", "2"]) == 0
    out = capsys.readouterr().out
    assert _value(out, "KL(p || q)") == pytest.approx(1.0, abs=6e-7)  # log2(0.5 / 0.25)
    assert math.isinf(_value(out, "KL(q || p)"))
    assert _value(out, "JS(p, q)") == pytest.approx(
        jensenshannon([1, 1, 0], [1, 1, 2], base=2) ** 2, abs=6e-7
    )
    assert "bits" in out


def test_samples_exact_and_sinkhorn(cli, capsys, tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(80, 2)), rng.normal(1.0, 1.0, size=(60, 2))
    np.save(tmp_path / "a.npy", x)
    np.save(tmp_path / "b.npy", y)
    cost = np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1))
    exact = ot.emd2([], [], cost)
    args = ["divergence", "--x", str(tmp_path / "a.npy"), "--y", str(tmp_path / "b.npy")]
    assert cli(args) == 0
    out = capsys.readouterr().out
    assert _value(out, "W1 (exact)") == pytest.approx(exact, abs=6e-7)
    assert "[80, 2]" in out and "[60, 2]" in out
    assert cli([*args, "--sinkhorn"]) == 0
    approx = _value(capsys.readouterr().out, "W1 (sinkhorn, reg=0.01)")
    assert 0 <= approx - exact <= 0.02 * cost.mean()


def test_samples_1d(cli, capsys, tmp_path):
    x, y = np.arange(5.0), np.arange(5.0) + 2.5
    np.save(tmp_path / "a.npy", x)
    np.save(tmp_path / "b.npy", y)
    assert cli(["divergence", "--x", str(tmp_path / "a.npy"), "--y", str(tmp_path / "b.npy")]) == 0
    assert _value(capsys.readouterr().out, "W1 (exact)") == pytest.approx(2.5, abs=1e-6)


def test_demo(cli, capsys):
    assert cli(["divergence", "--demo"]) == 0
    out = capsys.readouterr().out
    assert _value(out, "KL(p || q)") == pytest.approx(LOG2, abs=6e-7)
    assert math.isinf(_value(out, "KL(q || p)"))
    # the parallel-lines rows: theta, KL, JS, TV, W1, W1 from samples
    rows = re.findall(r"^\s+([-+]\d\.\d)\s+" + r"\s+".join([NUMBER] * 5) + r"\s*$", out, re.M)
    assert len(rows) == 7
    for theta, kl, js, tv, w1, w1_samples in rows:
        t = float(theta)
        assert float(w1) == pytest.approx(abs(t), abs=1e-6)
        assert float(js) == pytest.approx(LOG2 if t else 0.0, abs=1e-6)
        assert math.isinf(float(kl)) == (t != 0)
        assert float(tv) == (1.0 if t else 0.0)
        if abs(t) >= 0.5:
            assert float(w1_samples) == pytest.approx(abs(t), rel=0.03)
    value = _value(out, "V(D*, G) by integration")
    assert value == pytest.approx(_value(out, "2 JS(p_r, p_g) - 2 log 2"), abs=2e-6)
    assert _value(out, "V(D*, G) when p_g = p_r") == pytest.approx(-2 * LOG2, abs=1e-6)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--p", "0.1,0.4,0.5", "--q", "0.3,0.7"], "same shape"),
        (["--p=-0.1,0.6", "--q", "0.3,0.7"], "negative"),
        (["--p", "0.1,abc", "--q", "0.3,0.7"], "numbers"),
        (["--p", "0.1,,0.2", "--q", "0.3,0.7"], "empty entry"),
        (["--p", "nan,1", "--q", "0.3,0.7"], "NaN"),
        (["--p", "0,0", "--q", "0.3,0.7"], "zero total mass"),
        (["--p", "0.5,0.5"], "both --p and --q"),
        ([], "exactly one"),
        (["--demo", "--p", "1,1", "--q", "1,1"], "exactly one"),
        (["--p", "1,1", "--q", "1,1", "--x", "a.npy"], "exactly one"),
        (["--p", "1,1", "--q", "1,1", "--base", "1"], "base"),
        (["--p", "1,1", "--q", "1,1", "--sinkhorn"], "--sinkhorn"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, capsys, argv, match):
    assert cli(["divergence", *argv]) == 2
    assert match in _error_line(capsys)


def test_bad_sample_files(cli, capsys, tmp_path):
    good = tmp_path / "good.npy"
    np.save(good, np.zeros((4, 2)))
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    text = tmp_path / "text.npy"
    text.write_text("not an array\n")
    three_d = tmp_path / "cube.npy"
    np.save(three_d, np.zeros((2, 2, 2)))
    other_dim = tmp_path / "d3.npy"
    np.save(other_dim, np.zeros((4, 3)))
    strings = tmp_path / "strings.npy"
    np.save(strings, np.array(["a", "b"]))
    complex_ = tmp_path / "complex.npy"
    np.save(complex_, np.ones(3, dtype=complex))
    cases = [
        (str(tmp_path / "missing.npy"), "no such file"),
        (str(objects), "cannot read it as a .npy array"),
        (str(text), "cannot read it as a .npy array"),
        (str(tmp_path), "cannot read it as a .npy array"),
        (str(three_d), "[N] or [N, d]"),
        (str(other_dim), "same dimension"),
        (str(strings), "must be real numbers"),
        (str(complex_), "must be real numbers"),
    ]
    for path, match in cases:
        assert cli(["divergence", "--x", str(good), "--y", path]) == 2
        assert match in _error_line(capsys)
    assert cli(["divergence", "--x", str(good)]) == 2
    assert "both --x and --y" in _error_line(capsys)
    assert cli(["divergence", "--x", str(good), "--y", str(good), "--base", "2"]) == 2
    assert "--base" in _error_line(capsys)
    assert cli(["divergence", "--x", str(good), "--y", str(good), "--reg", "0.1"]) == 2
    assert "--sinkhorn" in _error_line(capsys)


@pytest.mark.skipif(
    "divergence" not in gankit.cli.COMMANDS,
    reason="'divergence' is not registered in gankit.cli.COMMANDS yet (the lead registers it)",
)
def test_python_m_gankit_divergence_error_is_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "gankit", "divergence", "--p", "0.1,0.9", "--q", "0.2,0.3,0.5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "same shape" in lines[0]
    assert "Traceback" not in proc.stderr
