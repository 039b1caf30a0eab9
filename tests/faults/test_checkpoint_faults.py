"""Checkpoints under attack: a full disk, truncation, bit flips, foreign files, pickled code,
and checkpoints of another model. Every failure is one line on stderr with exit status 2, the
previous checkpoint survives, and no code in a checkpoint ever runs.
"""

from __future__ import annotations

import errno
import io
import json
import os
import random
import shutil
from pathlib import Path

import pytest
import torch
from faultkit import (
    assert_every_checkpoint_loads,
    assert_identical,
    assert_same_stats,
    assert_same_training_state,
    cli_in_process,
    one_line,
    toy_argv,
)
from safetensors.torch import save_file

from gankit.errors import CheckpointError
from gankit.models import build_models
from gankit.training import checkpoint
from gankit.training import stats as stats_module

STEPS = 10  # checkpoints at steps 5 and 10


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("toy") / "run"
    rc, _, err = cli_in_process(toy_argv(out, STEPS))
    assert rc == 0, err
    return out


@pytest.fixture
def run(toy_run, tmp_path) -> Path:
    """A private copy of the toy run, free to damage."""
    return Path(shutil.copytree(toy_run, tmp_path / "run"))


def last_ckpt(run: Path) -> Path:
    return run / "checkpoints" / checkpoint.checkpoint_name(STEPS)


def sample_error(target: Path, tmp_path: Path) -> str:
    rc, out, err = cli_in_process(["sample", str(target), "--n", "8", "--out", str(tmp_path / "s.npz")])
    assert rc == 2 and out == "", (out, err)
    return one_line(err)


def resume_error(run: Path) -> str:
    rc, out, err = cli_in_process(["train", "--resume", str(run), "--steps", str(STEPS + 5)])
    assert rc == 2, (out, err)
    return one_line(err)


# ------------------------------------------------------------------------------- a full disk

def enospc(name: str) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)


class FullDisk:
    """From the ``arm_at``-th checkpoint save on, the ``nth`` call of ``what`` during a save fails with ENOSPC.

    ``what`` is ``write`` (the data written to a temporary file), ``fsync`` or ``replace``. Within
    one save the calls come in order: the checkpoint file first, then the ``latest`` pointer.
    """

    def __init__(self, monkeypatch, what: str, nth: int, arm_at: int = 2) -> None:
        self.what, self.nth, self.arm_at = what, nth, arm_at
        self.saves, self.calls, self.failed = 0, 0, []
        real_save, real_fsync, real_replace, real_fdopen = checkpoint.save, os.fsync, os.replace, os.fdopen

        def save(*args, **kwargs):
            self.saves += 1
            self.calls = 0
            return real_save(*args, **kwargs)

        def hit(kind: str) -> bool:
            if kind != self.what or self.saves < self.arm_at:
                return False
            self.calls += 1
            return self.calls == self.nth

        def fsync(fd):
            if hit("fsync"):
                self.failed.append("fsync")
                raise enospc(f"fd {fd}")
            return real_fsync(fd)

        def replace(src, dst):
            if hit("replace"):
                self.failed.append(str(dst))
                raise enospc(str(dst))
            return real_replace(src, dst)

        def fdopen(fd, *args, **kwargs):
            handle = real_fdopen(fd, *args, **kwargs)
            return _FailingWriter(handle, self) if hit("write") else handle

        monkeypatch.setattr(checkpoint, "save", save)
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "fdopen", fdopen)


class _FailingWriter:
    """A file whose ``write`` stops half-way with ENOSPC, as a full disk does."""

    def __init__(self, handle, disk: FullDisk) -> None:
        self.handle, self.disk = handle, disk

    def write(self, data: bytes) -> int:
        self.handle.write(data[: len(data) // 2])
        self.disk.failed.append("write")
        raise enospc(self.handle.name if isinstance(self.handle.name, str) else "checkpoint")

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


@pytest.mark.parametrize(("what", "nth"), [
    ("write", 1),  # the checkpoint's bytes
    ("fsync", 1),  # flushing the checkpoint file
    ("replace", 1),  # moving the checkpoint into place
    ("write", 2),  # the latest pointer's bytes (the new checkpoint is complete but not pointed at)
    ("replace", 2),
])
def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(what, nth, tmp_path, monkeypatch,
                                                                 reference_run):
    run = tmp_path / "run"
    disk = FullDisk(monkeypatch, what, nth)
    rc, _, err = cli_in_process(toy_argv(run, 20))
    assert rc == 2 and disk.failed, err
    message = one_line(err)
    assert message.startswith(f"gankit train: error: cannot write checkpoint {run / 'checkpoints' / 'step_0000010.ckpt'}: "
                              "No space left on device; the previous checkpoint is intact; free space")
    assert message.endswith(f"resume with 'gankit train --resume {run}'")
    directory = run / "checkpoints"
    assert (directory / "latest").read_text() == "step_0000005.ckpt\n"  # still the previous one, which loads
    assert checkpoint.load(checkpoint.find(run))["step"] == 5
    assert assert_every_checkpoint_loads(run) == (2 if nth == 2 else 1)
    assert not list(directory.glob(".*.tmp")), "a temporary file was left behind"

    monkeypatch.undo()  # space is free again: the advice in the message works and loses nothing
    rc, _, err = cli_in_process(["train", "--resume", str(run)])
    assert rc == 0, err
    reference = reference_run(20)
    assert_same_training_state(run, reference)
    assert_same_stats(run, reference)


def test_a_full_disk_while_writing_statistics_is_one_line(tmp_path, monkeypatch):
    run = tmp_path / "run"

    class NoSpace:
        @staticmethod
        def fsync(fd):
            raise enospc(f"fd {fd}")

    monkeypatch.setattr(stats_module, "os", NoSpace)
    rc, _, err = cli_in_process(toy_argv(run, 20))
    assert rc == 2
    assert one_line(err) == (f"gankit train: error: cannot write {run / 'stats.jsonl'}: No space left on device; "
                             f"free space (or fix permissions) and resume with 'gankit train --resume {run}'")
    assert not (run / "checkpoints").exists()  # the rows are synced before the checkpoint that covers them


def test_half_written_files_of_a_killed_save_are_cleaned_up(run):
    directory = run / "checkpoints"
    stale = [directory / ".step_0000015.ckpt.abc123.tmp", directory / ".latest.xyz.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    state = checkpoint.load(last_ckpt(run))
    payload = {k: v for k, v in state.items() if k not in ("format", "format_version")}
    checkpoint.save(directory, 15, payload, keep=3)
    assert not any(path.exists() for path in stale)
    assert [p.name for p in checkpoint.list_checkpoints(directory)] == [
        "step_0000005.ckpt", "step_0000010.ckpt", "step_0000015.ckpt"]


# ----------------------------------------------------------------- truncated and flipped bits

def header_length(blob: bytes) -> int:
    return blob.index(b"\n") + 1


@pytest.mark.parametrize("keep", ["nothing", "half the header", "the header", "header and 100 bytes", "all but 1"])
def test_a_truncated_checkpoint_is_one_line_for_sample_and_resume(keep, run, tmp_path):
    path = last_ckpt(run)
    blob = path.read_bytes()
    n = {"nothing": 0, "half the header": header_length(blob) // 2, "the header": header_length(blob),
         "header and 100 bytes": header_length(blob) + 100, "all but 1": len(blob) - 1}[keep]
    path.write_bytes(blob[:n])
    for message in (sample_error(path, tmp_path), sample_error(run, tmp_path), resume_error(run)):
        assert str(path) in message
        assert any(word in message for word in ("empty", "truncated", "damaged header")), message
        assert "falls back to the newest remaining checkpoint" in message
    # the advice works: without the damaged file the run resumes from the previous checkpoint
    path.unlink()
    rc, out, err = cli_in_process(["train", "--resume", str(run), "--steps", str(STEPS)])
    assert rc == 0 and "at step 5 of 10 from step_0000005.ckpt" in out, err


def test_a_flipped_payload_bit_is_caught_by_the_checksum(run, tmp_path):
    path = last_ckpt(run)
    blob = bytearray(path.read_bytes())
    blob[header_length(blob) + (len(blob) - header_length(blob)) // 2] ^= 0x10
    path.write_bytes(bytes(blob))
    for message in (sample_error(path, tmp_path), resume_error(run)):
        assert message.endswith(f"{path} is corrupt (checksum mismatch); delete it and 'latest' falls back to the "
                                "newest remaining checkpoint in its folder")


def test_every_single_bit_flip_is_refused_or_harmless(toy_run):
    """Each flip of a header bit, and of 400 random payload bits: a CheckpointError, or the same state."""
    blob = last_ckpt(toy_run).read_bytes()
    original = checkpoint.decode(blob, "original")
    n_head = header_length(blob)
    rng = random.Random(7)
    bits = [(i, b) for i in range(n_head) for b in range(8)]
    bits += [(rng.randrange(n_head, len(blob)), rng.randrange(8)) for _ in range(400)]
    refused = harmless = 0
    for i, b in bits:
        flipped = bytearray(blob)
        flipped[i] ^= 1 << b
        try:
            state = checkpoint.decode(bytes(flipped), "flipped")
        except CheckpointError as err:
            assert "\n" not in str(err)
            refused += 1
            continue
        assert i < n_head, f"a flipped payload bit at byte {i} went unnoticed"
        assert_identical(state, original)  # e.g. the format version read as 0: the data is untouched
        harmless += 1
    assert refused + harmless == len(bits) and refused >= len(bits) - 8


# ------------------------------------------------------------------------------ foreign files

def foreign_files(tmp_path: Path) -> dict[str, Path]:
    files = {}

    def put(name: str, data: bytes) -> None:
        files[name] = tmp_path / name
        files[name].write_bytes(data)

    put("random.ckpt", random.Random(0).randbytes(5000))
    put("empty.ckpt", b"")
    put("text.ckpt", b"hello, I am not a checkpoint\n")
    buffer = io.BytesIO()
    torch.save({"G": {"w": torch.ones(3)}, "step": 3}, buffer)
    put("plain-torch.ckpt", buffer.getvalue())
    # a plain torch.save dict behind a valid gankit header: parsed, then refused as not ours
    put("plain-torch-with-header.ckpt", checkpoint.encode({"G": {"w": torch.ones(3)}, "step": 3}))
    # ours in form but missing what readers need
    put("headless.ckpt", checkpoint.encode({"format": "gankit-checkpoint", "format_version": 1, "step": 3}))
    files["other.safetensors"] = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2, 2)}, str(files["other.safetensors"]))
    files["other-meta.safetensors"] = tmp_path / "other-meta.safetensors"
    save_file({"weight": torch.zeros(2, 2)}, str(files["other-meta.safetensors"]), metadata={"format": "pt"})
    put("garbage.safetensors", random.Random(1).randbytes(300))
    return files


def test_foreign_files_are_refused_in_one_line(tmp_path):
    expected = {
        "random.ckpt": "is not a gankit checkpoint", "empty.ckpt": "is empty",
        "text.ckpt": "is not a gankit checkpoint", "plain-torch.ckpt": "is not a gankit checkpoint",
        "plain-torch-with-header.ckpt": "is not a gankit checkpoint",
        "headless.ckpt": "lacks config, data_shape, G; it was not written by a compatible 'gankit train'",
        "other.safetensors": "is a safetensors file but not a gankit generator",
        "other-meta.safetensors": "is a safetensors file but not a gankit generator",
        "garbage.safetensors": "is not a readable safetensors file",
    }
    files = foreign_files(tmp_path)
    assert set(files) == set(expected)
    for name, path in files.items():
        message = sample_error(path, tmp_path)
        assert str(path) in message and expected[name] in message, (name, message)


def test_a_run_folder_holding_a_foreign_file_as_its_checkpoint(run, tmp_path):
    target = last_ckpt(run)
    target.write_bytes(random.Random(2).randbytes(2000))
    for message in (sample_error(run, tmp_path), resume_error(run)):
        assert f"{target} is not a gankit checkpoint" in message


@pytest.mark.parametrize("where", ["missing", "empty folder", "run without checkpoint"])
def test_nothing_to_load_is_one_line(where, tmp_path):
    path = tmp_path / "x"
    if where != "missing":
        path.mkdir()
    if where == "run without checkpoint":
        (path / "config.json").write_text("{}")
    message = sample_error(path, tmp_path)
    assert str(path) in message
    assert {"missing": "does not exist", "empty folder": "holds no checkpoint",
            "run without checkpoint": "stopped before its first one"}[where] in message
    if where != "missing":
        assert "holds no checkpoint" in resume_error(path)


# ------------------------------------------------------------------------------- pickled code

class Payload:
    """Unpickling this runs ``os.system('touch MARKER')``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def poisoned_state(run: Path, marker: Path) -> dict:
    """The run's own last checkpoint with a code payload tucked into its generator weights."""
    state = checkpoint.load(last_ckpt(run))
    state["G"]["extra"] = Payload(marker)
    return state


def test_the_code_payload_is_real(run, tmp_path):
    """Control: loaded without weights_only, the crafted payload does run (so the next test means something)."""
    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    torch.save(poisoned_state(run, marker), buffer)
    torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
    assert marker.exists()


def test_a_checkpoint_carrying_code_is_refused_without_running_it(run, tmp_path):
    marker = tmp_path / "pwned"
    path = last_ckpt(run)
    path.write_bytes(checkpoint.encode(poisoned_state(run, marker)))  # valid header and checksum
    for message in (sample_error(path, tmp_path), sample_error(run, tmp_path), resume_error(run)):
        assert f"{path} was refused and nothing in it was run" in message
        assert "posix.system" in message or "os.system" in message, message
        assert not marker.exists()
    with pytest.raises(CheckpointError):
        checkpoint.load(path)
    assert not marker.exists()


# ----------------------------------------------------------------- another model or config

@pytest.mark.parametrize(("flags", "key", "there", "asked"), [
    (["--set", "model.width=64"], "model.width", "32", "64"),
    (["--loss", "wgan-gp"], "loss.name", "'gan-ns'", "'wgan-gp'"),
    (["--batch-size", "32"], "train.batch_size", "64", "32"),
    (["--data", "grid25"], "data.name", "'ring8'", "'grid25'"),
])
def test_resuming_with_another_config_says_what_differs(flags, key, there, asked, run):
    rc, _, err = cli_in_process(["train", "--resume", str(run), *flags])
    assert rc == 2
    assert f"{key} is {there} there, not {asked}" in one_line(err)


def test_describe_mismatch_names_the_differing_tensors():
    G32, _ = build_models("mlp", data_shape=(2,), z_dim=2, width=32)
    G48, _ = build_models("mlp", data_shape=(2,), z_dim=2, width=48)
    assert checkpoint.describe_mismatch(G32, G32.state_dict()) is None
    text = checkpoint.describe_mismatch(G32, G48.state_dict())
    assert "\n" not in text
    assert "net.0.weight is [48, 2] in the checkpoint but [32, 2] in the model" in text and "more" in text
    state = dict(G32.state_dict())
    state.pop("net.0.bias")
    state["extra"] = torch.zeros(1)
    assert checkpoint.describe_mismatch(G32, state) == "missing net.0.bias; unexpected extra"


def test_config_differences_lists_each_changed_key():
    a = {"model": {"width": 32, "name": "mlp"}, "train": {"steps": 10, "seed": 0}}
    b = {"model": {"width": 48, "name": "mlp"}, "train": {"steps": 99, "seed": 0}, "loss": {"name": "wgan"}}
    assert checkpoint.config_differences(a, a) == {}
    assert checkpoint.config_differences(a, b, ignore={"train.steps"}) == {
        "loss.name": (None, "wgan"), "model.width": (32, 48)}


def mismatched_run(toy_run: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A run whose checkpoint holds 32-unit weights under a config (its own and config.json) that says 48."""
    run = Path(shutil.copytree(toy_run, tmp_path / "mismatched"))
    path = last_ckpt(run)
    state = checkpoint.load(path)
    config = json.loads(state["config"])
    config["model"]["width"] = 48
    state["config"] = json.dumps(config)
    path.write_bytes(checkpoint.encode(state))
    (run / "config.json").write_text(json.dumps(config))
    return run, path


def test_sampling_weights_of_another_model_says_what_differs(toy_run, tmp_path):
    run, path = mismatched_run(toy_run, tmp_path)
    assert "net.0.weight is [32, 2] in the checkpoint but [48, 2] in the model" in sample_error(path, tmp_path)


def test_resuming_weights_of_another_model_says_what_differs(toy_run, tmp_path):
    run, _ = mismatched_run(toy_run, tmp_path)
    rc, _, err = cli_in_process(["train", "--resume", str(run)])
    assert rc == 2 and "net.0.weight is [32, 2] in the checkpoint but [48, 2] in the model" in one_line(err)


def test_resuming_a_checkpoint_of_another_run_says_what_differs(toy_run, tmp_path):
    other = tmp_path / "other"
    rc, _, err = cli_in_process(toy_argv(other, 5, "--set", "model.width=48"))
    assert rc == 0, err
    run = Path(shutil.copytree(toy_run, tmp_path / "run"))
    shutil.copy(other / "checkpoints" / "step_0000005.ckpt", run / "checkpoints" / "step_0000015.ckpt")
    (run / "checkpoints" / "latest").write_text("step_0000015.ckpt\n")
    config_before = (run / "config.json").read_text()
    rc, _, err = cli_in_process(["train", "--resume", str(run)])
    assert (run / "config.json").read_text() == config_before  # the run's own record is kept
    assert rc == 2
    assert "model.width is 32 in config.json but 48 in the checkpoint" in one_line(err)
