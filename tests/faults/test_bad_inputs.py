"""Bad inputs never produce a traceback: every outcome is exit 0, or exit 2 with one line on stderr.

Hypothesis generates command lines (``--set key=value`` pairs with valid and made-up keys and values
of every type, random flag values) and YAML presets, and runs ``gankit.cli.main`` on each in this
process. A combination that happens to be valid trains for at most three tiny steps: every size a
strategy can produce is small, so no example starts a long run. Examples are derandomised, so
the test sees the same inputs on every run.

Dataset folders that are missing, empty, corrupt or a file are one-line errors too; a folder where
only some images are corrupt trains and reports how many it skipped.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from faultkit import cli_in_process, one_line
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from gankit.errors import GankitError
from gankit.training.config import all_keys, parse_assignment, qualify_key

TRIED = {"command lines": 0, "settings of a valid run": 0, "presets": 0}

# ----------------------------------------------------------------------------- value strategies

WORDS = ["mlp", "dcgan", "gan-minimax", "gan-ns", "wgan", "wgan-gp", "hinge", "adam", "rmsprop", "sgd", "cpu",
         "auto", "cuda", "mps", "tpu", "fp32", "fp16", "bf16", "stop", "rollback", "ring8", "grid25", "swissroll",
         "digits", "batch", "layer", "none", "uniform", "normal", "folder:/nonexistent/x", "folder:", "null", "~",
         "yes", "no", "on", "true", "1e-4", "-1e-4", "nan", "-inf", ".inf", "0x10", "1_000", "2020-01-01", "[1, 2]",
         "{a: 1}", "a: b", "!!python/object/apply:os.system ['true']", "'quoted'", "\"", "%", "\x00", "é", ""]
SMALL_INTS = st.integers(-3, 8)
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-2, 2), st.sampled_from([0.0, 1.0, 1e-4]))
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10)

# A --set value as typed on a command line. Integers stay small: a valid size must not start a long
# run, and sizes in the billions would only measure how the machine copes with running out of memory.
# (one_of picks its branches about equally often; a branch listed twice is picked twice as often)
SET_VALUES = st.one_of(SMALL_INTS.map(str), SMALL_INTS.map(str), FLOATS.map(repr), st.sampled_from(WORDS),
                       st.sampled_from(WORDS), TEXT)
VALID_KEYS = st.sampled_from(all_keys())
KEYS = st.one_of(VALID_KEYS, VALID_KEYS, VALID_KEYS, st.sampled_from([k.split(".")[1] for k in all_keys()]),
                 st.sampled_from(["model.widht", "train.step", "loss", "loss.", ".lr_g", "a.b.c", "x"]), TEXT)
ASSIGNMENT = st.tuples(KEYS, SET_VALUES).map(lambda kv: f"{kv[0]}={kv[1]}")
ASSIGNMENTS = st.one_of(ASSIGNMENT, ASSIGNMENT, ASSIGNMENT, ASSIGNMENT, TEXT)


def flag_values(*choices: str, ints: st.SearchStrategy | None = None) -> st.SearchStrategy:
    """Mostly the flag's own kind of value, sometimes any word or text."""
    good = [st.sampled_from(choices)] if choices else []
    if ints is not None:
        good.append(ints.map(str))
    return st.one_of(*good, *good, *good, st.sampled_from(WORDS), TEXT)


FLAGS = {
    "--model": flag_values("mlp", "dcgan"),
    "--loss": flag_values("gan-minimax", "gan-ns", "wgan", "wgan-gp", "hinge"),
    # no mnist/cifar10: they would try to download
    "--data": flag_values("ring8", "grid25", "swissroll", "digits", "folder:/nonexistent/x", "folder:"),
    "--steps": flag_values(ints=st.integers(-2, 3)),
    "--batch-size": flag_values(ints=st.integers(-2, 70)),
    "--d-steps": flag_values(ints=st.integers(-1, 3)),
    "--image-size": flag_values(ints=st.sampled_from([-8, 0, 7, 8, 12, 16, 32, 512])),
    "--seed": flag_values(ints=st.integers(-3, 2**31)),
    "--device": flag_values("cpu", "auto", "cuda", "mps"),
    "--precision": flag_values("fp32", "bf16", "fp16"),
    "--ema": flag_values(ints=st.integers(-1, 1)) | FLOATS.map(repr),
    "--on-nan": flag_values("stop", "rollback"),
    "--config": flag_values("dcgan-paper", "wgan-paper", "wgan-gp-paper", "/nonexistent.yaml"),
    "--list-keys": st.just(None),
    "--resume": flag_values("/nonexistent/run"),
}


@st.composite
def command_lines(draw) -> list[str]:
    argv = ["train"]
    for flag in draw(st.lists(st.sampled_from(sorted(FLAGS)), max_size=5, unique=True)):
        value = draw(FLAGS[flag])
        argv += [flag] if value is None else [flag, value]
    for assignment in draw(st.lists(ASSIGNMENTS, max_size=4)):
        argv += ["--set", assignment]
    if draw(st.sampled_from([False] * 9 + [True])):  # now and then, an unknown flag or a missing value
        argv += draw(st.lists(st.sampled_from(["--bogus", "-x", "positional", "--steps"]), min_size=1, max_size=2))
    return argv


def guard_size(argv: list[str]) -> list[str]:
    """A preset may ask for a big model or batch: flags given after it keep a valid example tiny."""
    if "--config" in argv:
        argv = [*argv, "--set", "model.width=4", "--set", "train.batch_size=4"]
    if "--steps" not in argv:
        argv = [*argv, "--steps", "1"]
    assume(not asks_for_a_long_run(argv))
    return argv


def asks_for_a_long_run(argv: list[str]) -> bool:
    """A valid but huge ``--set train.steps=N`` would train for hours: such examples are skipped.

    The value is read as gankit reads it (YAML: ``1e9`` and ``1_000_000`` are numbers too).
    """
    for token in argv:
        try:
            key, value = parse_assignment(token)
            key = qualify_key(key)
        except (GankitError, ValueError):
            continue
        if key == "train.steps" and isinstance(value, int | float) and not isinstance(value, bool) and value > 100:
            return True
    return False


def run_main(argv: list[str]) -> tuple[int, str, str]:
    threads = torch.get_num_threads()
    try:
        return cli_in_process(argv)
    finally:
        torch.set_num_threads(threads)  # train.threads may have changed it


def assert_runs_cleanly(argv: list[str], what: object) -> None:
    """``gankit`` in-process on ``argv``: no exception escapes, and the outcome is clean."""
    try:
        rc, _, err = run_main(argv)
    except Exception as exc:  # noqa: BLE001 - the point: nothing may escape
        raise AssertionError(f"{type(exc).__name__} escaped for {what}: {exc}") from None
    assert_clean_outcome(argv, rc, err)


def assert_clean_outcome(argv: list[str], rc: int, err: str) -> None:
    assert rc in (0, 2), f"exit {rc} for {argv}: {err}"
    if rc == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and "Traceback" not in err, f"{argv} gave {err!r}"
        assert lines[0].startswith(("gankit train: error: ", "gankit: error: ", "gankit train: warning: ")), err


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(argv=command_lines())
def test_fuzzed_command_lines_exit_0_or_2_with_one_line(argv):
    with tempfile.TemporaryDirectory() as tmp:
        full = guard_size([*argv, "--out", str(Path(tmp) / "run"), "--runs", str(Path(tmp) / "runs")])
        TRIED["command lines"] += 1
        assert_runs_cleanly(full, full)


TOY_BASE = ["train", "--data", "ring8", "--set", "data.n_points=256", "--set", "model.width=8", "--batch-size", "16",
            "--steps", "2", "--device", "cpu"]


@st.composite
def mutated_toy_runs(draw) -> list[str]:
    """A valid tiny run with one or two keys set to fuzzed values: reaches the code past validation."""
    argv = list(TOY_BASE)
    for _ in range(draw(st.integers(1, 2))):
        argv += ["--set", f"{draw(VALID_KEYS)}={draw(SET_VALUES)}"]
    return argv


@settings(max_examples=80, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=mutated_toy_runs())
def test_fuzzed_settings_of_a_valid_run_exit_0_or_2_with_one_line(argv):
    with tempfile.TemporaryDirectory() as tmp:
        full = guard_size([*argv, "--out", str(Path(tmp) / "run")])
        TRIED["settings of a valid run"] += 1
        assert_runs_cleanly(full, full)


# ------------------------------------------------------------------------------- YAML presets

SECTIONS = st.sampled_from(["model", "data", "loss", "train", "Model", "optim", ""])
YAML_SCALARS = st.one_of(SMALL_INTS, FLOATS, st.booleans(), st.none(), st.sampled_from(WORDS), TEXT)
YAML_VALUES = st.recursive(YAML_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                           max_leaves=5)
PRESET_KEYS = st.one_of(st.sampled_from(sorted({k.split(".")[1] for k in all_keys()})), TEXT)
SHIPPED = ["dcgan-paper", "wgan-paper", "wgan-gp-paper"]


@st.composite
def presets(draw) -> str:
    kind = draw(st.sampled_from(["mapping", "mutated shipped", "not a mapping", "raw text"]))
    if kind == "raw text":
        return draw(st.one_of(TEXT, st.sampled_from(["model: [", "model:\n  width: 3\n width: 4", "\t- a", "{{", "!!binary x",
                                                     "a: !!python/name:os.system", "---\n---\n", "%YAML 9.9\n---\n"])))
    if kind == "not a mapping":
        return yaml.safe_dump(draw(st.one_of(st.lists(YAML_SCALARS, max_size=3), YAML_SCALARS)))
    if kind == "mutated shipped":
        from gankit.training.config import PRESET_DIR

        mapping = yaml.safe_load((PRESET_DIR / f"{draw(st.sampled_from(SHIPPED))}.yaml").read_text())
        section = draw(st.sampled_from(sorted(mapping)))
        mapping[section][draw(PRESET_KEYS)] = draw(YAML_VALUES)
        return yaml.safe_dump(mapping)
    mapping = {}
    for section in draw(st.lists(SECTIONS, max_size=3, unique=True)):
        own = st.sampled_from([k.split(".")[1] for k in all_keys() if k.startswith(f"{section}.")] or ["x"])
        values = st.dictionaries(st.one_of(own, own, own, PRESET_KEYS), YAML_VALUES, max_size=3)
        mapping[section] = draw(st.one_of(values, values, values, YAML_SCALARS))
    return yaml.safe_dump(mapping, allow_unicode=True)


@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=presets())
def test_fuzzed_yaml_presets_exit_0_or_2_with_one_line(text):
    with tempfile.TemporaryDirectory() as tmp:
        preset = Path(tmp) / "preset.yaml"
        preset.write_text(text, encoding="utf-8")
        # the preset sets what it likes; the flags (applied after it) keep a valid run tiny and local
        argv = ["train", "--config", str(preset), "--steps", "1", "--set", "train.batch_size=4", "--set", "model.width=4",
                "--out", str(Path(tmp) / "run")]
        TRIED["presets"] += 1
        assert_runs_cleanly(argv, f"preset {text!r}")


def test_report_how_many_bad_inputs_were_tried():
    print(f"bad inputs tried: {TRIED}")


# ------------------------------------------------------------------------------ data folders

def write_images(folder: Path, n: int, *, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(folder / f"img{i:03d}.png")


def write_corrupt(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    good = folder.parent / "_good.png"
    Image.new("RGB", (12, 12), (10, 20, 30)).save(good)
    blob, names = good.read_bytes(), []
    good.unlink()
    rng = random.Random(3)
    for i in range(n):
        name = f"bad{i:02d}" + [".png", ".jpg", ".gif"][i % 3]
        data = [rng.randbytes(200), blob[: len(blob) // 2], b""][i % 3]  # noise, a cut-off PNG, an empty file
        (folder / name).write_bytes(data)
        names.append(name)
    return names


def train_folder(path: Path | str, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    return cli_in_process(["train", "--data", f"folder:{path}", "--image-size", "8", "--set", "model.width=4",
                           "--batch-size", "8", "--steps", "2", "--device", "cpu", "--out", str(tmp_path / "run"), *extra])


@pytest.mark.parametrize(("case", "expected"), [
    ("missing", "does not exist; pass --data folder:PATH with an existing folder of images"),
    ("a file", "is not a folder; pass --data folder:PATH with a folder of images"),
    ("empty", "no image files"),
    ("no images in it", "no image files"),
    ("all corrupt", "none of the 6 image files under"),
])
def test_a_bad_data_folder_is_one_line(case, expected, tmp_path):
    path = tmp_path / "images"
    if case == "a file":
        path.write_text("not a folder")
    elif case == "empty":
        path.mkdir()
    elif case == "no images in it":
        path.mkdir()
        (path / "notes.txt").write_text("hello")
        (path / "data.npz").write_bytes(b"\x00" * 10)
    elif case == "all corrupt":
        write_corrupt(path, 6)
    rc, out, err = train_folder(path, tmp_path)
    assert rc == 2
    message = one_line(err)
    assert message.startswith("gankit train: error: ") and expected in message, message
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_folder_with_some_corrupt_images_trains_and_reports_the_count(tmp_path):
    path = tmp_path / "images"
    write_images(path, 20)
    bad = write_corrupt(path, 3)
    rc, out, err = train_folder(path, tmp_path)
    assert rc == 0, err
    warning = one_line(err)
    assert warning.startswith(f"gankit train: warning: skipped 3 of 23 image files under {path.resolve()} "
                              "that could not be decoded (first: ")
    assert any(name in warning for name in bad)
    assert "(20 items, shape (3, 8, 8))" in out and "done: 2 steps" in out


# ------------------------------------------------------------------------- extreme numbers

@pytest.mark.parametrize("extra", [
    ["--seed", str(10**14)],  # seed * 1_000_003 once overflowed the data order's generator
    ["--seed", str(2**31)],
    ["--set", "loss.lr_g=nan"],  # NaN once passed the "> 0" check (nan < 0 is False)
    ["--set", "loss.lr_d=inf"],
    ["--set", "loss.lr_g=1e-300"],
])
def test_extreme_numbers_are_config_errors_or_train(extra, tmp_path):
    argv = [*TOY_BASE, *extra, "--out", str(tmp_path / "run")]
    rc, _, err = run_main(argv)
    assert_clean_outcome(argv, rc, err)
    key = extra[-1].split("=")[0] if extra[0] == "--set" else "seed"
    assert rc == 0 or key in err, err


def test_non_finite_weights_before_any_checkpoint_say_so(tmp_path, monkeypatch):
    from gankit.training import loop

    monkeypatch.setattr(loop.Trainer, "weights_finite", lambda self: False)
    argv = [*TOY_BASE, "--out", str(tmp_path / "run")]
    rc, _, err = run_main(argv)
    assert rc == 2
    message = one_line(err)
    assert "None" not in message and "non-finite" in message
