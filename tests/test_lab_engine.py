"""The lab's panes, engine and message checks, without a web server.

* a lab run follows ``gankit train``'s trajectory bit for bit (frames never touch the training RNG),
  in slow motion too;
* what the lab trains is an ordinary run folder: evaluate and --resume work on it; replay shows it;
* every control is validated with the config's rules; a fuzz run proves no input escapes as anything
  but a :class:`LabError`.
"""

from __future__ import annotations

import json
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gankit
from gankit.lab import controls as C
from gankit.lab.engine import Engine
from gankit.lab.frames import EXTENTS
from gankit.lab.scenarios import SCENARIOS
from gankit.lab.session import Pane
from gankit.training.config import load_config

SMALL = {"data.name": "ring8", "model.width": 32, "train.batch_size": 64, "train.device": "cpu",
         "train.checkpoint_every": 10, "train.log_every": 5}


def small(**more):
    return load_config(None, {**SMALL, **more})


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_lab_run_follows_gankit_trains_trajectory(tmp_path):
    pane = Pane(small(), tmp_path / "lab")
    for i in range(12):
        pane.step()
        if i % 3 == 0:
            pane.frame(metrics=i % 2 == 0)  # frames in between must not change the trajectory
    result = gankit.train(small(steps=12), out=tmp_path / "plain", log=lambda m: None)
    assert same_weights(pane.parts.G, result.G) and same_weights(pane.parts.D, result.D)


@pytest.mark.parametrize("loss", ["gan-ns", "wgan-gp"])
def test_slow_motion_phases_are_the_same_steps(tmp_path, loss):
    steps = Pane(small(**{"loss.name": loss, "loss.d_steps": 2}), tmp_path / "a")
    slow = Pane(small(**{"loss.name": loss, "loss.d_steps": 2}), tmp_path / "b")
    for _ in range(3):
        steps.step()
    kinds = [slow.phase() for _ in range(4)]  # K=2: d, d, g, then one more d
    assert kinds == ["d", "d", "g", "d"]
    f = slow.frame(metrics=False)
    assert f["slow"]["phase"] == "d" and "heat_before" in f["slow"]
    slow.step()  # finishes the step in progress
    slow.step()
    assert slow.step_count == steps.step_count == 3
    assert same_weights(steps.parts.G, slow.parts.G) and same_weights(steps.parts.D, slow.parts.D)


def test_live_changes_keep_the_folder_resumable_and_evaluable(tmp_path):
    pane = Pane(small(), tmp_path)
    for _ in range(4):
        pane.step()
    _, cfg = C.apply_controls(pane.requested, {"lr_g": 5e-4, "d_steps": 2})
    pane.set_live({"lr_g": 5e-4, "d_steps": 2}, cfg)
    assert pane.parts.opt_g.param_groups[0]["lr"] == 5e-4 and pane.cfg.loss.d_steps == 2
    for _ in range(3):
        pane.step()
    run = pane.close()
    written = json.loads((run / "config.json").read_text())
    assert written["loss"]["lr_g"] == 5e-4 and written["loss"]["d_steps"] == 2 and written["train"]["steps"] == 7
    events = json.loads((run / "lab.json").read_text())["events"]
    assert {"step": 4, "set": "lr_g", "value": 5e-4} in events
    assert (run / "generator.safetensors").is_file()
    scores = gankit.evaluate(run, n=200)["metrics"]
    assert scores["n_modes"] == 8
    resumed = gankit.resume(run, overrides={"train.steps": 9}, log=lambda m: None)
    assert resumed.step == 9


def test_a_pane_that_diverges_stops_with_a_message(tmp_path):
    pane = Pane(small(), tmp_path)
    pane.step()
    with torch.no_grad():
        pane.parts.D.net[0].weight.fill_(float("nan"))  # what a blown-up step leaves behind
    for _ in range(5):
        pane.step()
    assert pane.diverged is not None and "training diverged" in pane.diverged
    frame = pane.frame(metrics=True)  # frames still draw (NaN becomes "nan"), nothing raises
    assert frame["diverged"] == pane.diverged and json.dumps(frame, allow_nan=False)
    run = pane.close()  # no checkpoint of non-finite weights, no generator file
    assert not (run / "generator.safetensors").exists()


def test_replay_shows_each_checkpoint(tmp_path):
    from gankit.lab.replay import ReplayPane

    gankit.train(small(steps=20), out=tmp_path / "run", log=lambda m: None)
    pane = ReplayPane(tmp_path / "run")
    assert pane.step_count == 10 and not pane.finished
    pane.step()
    assert pane.step_count == 20 and pane.finished
    frame = pane.frame(metrics=True)
    assert frame["replay"] == {"index": 1, "of": 2} and frame["step"] == 20
    assert not (tmp_path / "run" / "lab.json").exists()  # a replay never writes


# ------------------------------------------------------------------------------ messages


def state():
    cfg = small()
    return {"configs": [cfg], "extent": EXTENTS["ring8"], "scenarios": SCENARIOS}


def check(obj, **over):
    return C.validate_command(obj, **{**state(), **over})


@pytest.mark.parametrize(("values", "words"), [
    ({"lr_g": -1}, "loss.lr_g must be > 0"),
    ({"lr_g": "fast"}, "loss.lr_g must be a number"),
    ({"d_steps": 0}, "d_steps must be in [1, 50] in the lab"),
    ({"d_steps": 2.5}, "loss.d_steps must be an integer"),
    ({"d_steps": True}, "loss.d_steps must be an integer"),
    ({"loss": "gan-nss"}, "did you mean 'gan-ns'"),
    ({"noise": "cauchy"}, "model.noise must be one of uniform, normal"),
    ({"batch_size": 10**6}, "batch_size must be in [1, 4096] in the lab"),
    ({"data": "/etc/passwd"}, "data must be one of ring8, grid25, swissroll"),
    ({"gp_weight": -0.1}, "loss.gp_weight must be >= 0"),
    ({"clip": 0}, "loss.clip must be > 0"),
    ({"epochs": 3}, "unknown control 'epochs'"),
    ({}, "non-empty object"),
])
def test_bad_control_values_are_refused_with_the_configs_rules(values, words):
    with pytest.raises(C.LabError, match=None) as err:
        check({"cmd": "set", "values": values})
    assert words in str(err.value)


def test_good_controls_and_a_new_losss_defaults():
    cmd = check({"cmd": "set", "values": {"lr_d": 0.002, "d_steps": 3}, "id": 7})
    assert cmd.values == {"lr_d": 0.002, "d_steps": 3} and cmd.config.loss.lr_d == 0.002
    base = small(**{"loss.d_steps": 4})
    cmd = check({"cmd": "set", "values": {"loss": "wgan"}}, configs=[base])
    assert cmd.config.loss.name == "wgan" and cmd.config.loss.d_steps is None  # wgan's own default K


@pytest.mark.parametrize(("obj", "words"), [
    ({"cmd": "explode"}, "unknown cmd"),
    ({"cmd": "play", "path": "/etc"}, "unexpected 'path'"),
    ({"cmd": "set"}, "set needs values"),
    ({"cmd": "set", "pane": 1, "values": {"lr_g": 1e-3}}, "pane must be 0"),
    ({"cmd": "speed", "value": -1}, "speed must be"),
    ({"cmd": "slowmo", "value": 1}, "slowmo must be true or false"),
    ({"cmd": "draw", "points": [[0, 0]] * 3}, "a drawing needs 8 to 2000 points"),
    ({"cmd": "draw", "points": [[0, 0]] * 7 + [[9, 9]]}, "outside the plot"),
    ({"cmd": "draw", "points": [[0, 0]] * 7 + [[0, "x"]]}, "two finite numbers"),
    ({"cmd": "draw", "points": [[0.1, 0.1]] * 2001}, "a drawing needs 8 to 2000 points"),
    ({"cmd": "scenario", "name": "../../etc"}, "unknown scenario"),
    ({"cmd": "compare", "values": {"data": "grid25"}}, "share data"),
    ({"cmd": "play", "id": -1}, "id must be"),
])
def test_malformed_commands_are_refused(obj, words):
    with pytest.raises(C.LabError) as err:
        check(obj)
    assert words in str(err.value)


@pytest.mark.parametrize("text", [
    "", "[]", "null", "{", '{"cmd": NaN}', '{"cmd": "speed", "value": Infinity}', "[" * 100_000 + "]" * 100_000,
    '{"cmd": "speed", "value": ' + "9" * 5000 + "}", "x" * (C.MAX_MESSAGE_BYTES + 1), "\ud800",
])
def test_parse_refuses_what_is_not_one_small_json_object(text):
    with pytest.raises(C.LabError):
        check(C.parse_message(text))


def test_a_replay_takes_only_playback_commands():
    assert check({"cmd": "step"}, replay=True).cmd == "step"
    with pytest.raises(C.LabError, match="replays a finished run"):
        check({"cmd": "set", "values": {"lr_g": 1e-3}}, replay=True)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20)
hostile = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.fixed_dictionaries({"cmd": st.sampled_from(sorted(C.COMMANDS)) | st.text(max_size=10)},
                          optional={"values": json_values, "value": json_values, "points": json_values,
                                    "name": json_values, "pane": json_values, "id": json_values,
                                    "path": json_values}).map(json.dumps),
    st.fixed_dictionaries({"cmd": st.just("set"), "values": st.dictionaries(
        st.sampled_from(sorted(C.CONTROLS)), json_values, min_size=1, max_size=3)}).map(json.dumps),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile)
def test_fuzz_any_message_is_a_command_or_a_lab_error(text):
    try:
        command = check(C.parse_message(text))
    except C.LabError as err:
        assert str(err)  # refused, with a reason
        return
    assert command.cmd in C.COMMANDS
    if command.config is not None:  # whatever got through satisfies the config's rules
        from gankit.training.config import validate

        validate(command.config)


# ------------------------------------------------------------------------------ engine


def test_the_engine_trains_publishes_and_refuses_a_bad_build(tmp_path):
    engine = Engine(small(), tmp_path, fps=20)
    token = engine.bus.watch(lambda: None)
    engine.start()
    try:
        assert engine.ready.wait(60)
        engine.submit(C.Command("play"))
        deadline = time.monotonic() + 60
        while engine.steps_done < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine.steps_done >= 20
        version, text = engine.bus.latest()
        frame = json.loads(text)
        assert frame["type"] == "frame" and frame["panes"][0]["step"] > 0
        for field in ("real", "fake", "arrows", "heat", "dstar", "mesh", "mesh_density", "numbers", "metrics",
                      "curves", "settings"):
            assert field in frame["panes"][0]
        # a build failure (here forced) leaves the running pane as it was and reports the error
        old = engine.panes[0]

        def refuse(configs, drawn):
            raise C.LabError("refused on purpose")

        engine.make_panes = refuse
        engine.submit(C.Command("reset"))
        deadline = time.monotonic() + 20
        while (engine.error is None) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine.error["message"] == "refused on purpose" and engine.panes[0] is old
    finally:
        engine.bus.unwatch(token)
        written = engine.stop()
    assert written and (written[0] / "config.json").is_file()


def test_a_full_command_queue_refuses_instead_of_waiting(tmp_path):
    engine = Engine(small(), tmp_path)  # not started: nothing drains the queue
    for _ in range(64):
        engine.submit(C.Command("pause"))
    t = time.perf_counter()
    with pytest.raises(C.LabError, match="busy"):
        engine.submit(C.Command("pause"))
    assert time.perf_counter() - t < 0.5


def test_every_scenario_is_a_valid_setting():
    for name, spec in SCENARIOS.items():
        assert len(spec["caption"]) == 2 and 1 <= len(spec["panes"]) <= 2, name
        for values in spec["panes"]:
            _, cfg = C.apply_controls(small(), {"data": spec["data"], **values})
            assert cfg.data.name == spec["data"]


def test_a_drawing_becomes_the_real_distribution(tmp_path):
    import numpy as np

    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    drawn = np.stack([0.8 * np.cos(t), 0.4 * np.sin(t)], axis=1)  # an ellipse
    cmd = check({"cmd": "draw", "points": drawn.tolist()})
    pane = Pane(small(), tmp_path, drawn=np.asarray(cmd.points))
    data = pane.parts.dataset.data.double().numpy()
    nearest = np.linalg.norm(data[:, None] - drawn[None], axis=-1).min(axis=1)
    assert len(data) == 10_000 and np.percentile(nearest, 99) < 0.2  # around the drawing, nowhere else
    pane.step()
    frame = pane.frame(metrics=True)
    assert set(frame["metrics"]) == {"w1", "js_hist"}  # a drawing has no modes to count
    run = pane.close()
    assert run.name.endswith("-drawn")
    assert json.loads((run / "lab.json").read_text())["drawn"] == cmd.points


def test_the_engine_compares_side_by_side_and_draws(tmp_path):
    engine = Engine(small(), tmp_path, fps=20)
    token = engine.bus.watch(lambda: None)
    engine.start()
    try:
        assert engine.ready.wait(60)
        cfgs, extent = engine.state()
        engine.submit(C.validate_command({"cmd": "compare", "values": {"loss": "gan-minimax"}}, configs=cfgs,
                                         extent=extent, scenarios=SCENARIOS))
        engine.submit(C.Command("step"))

        def latest():
            text = engine.bus.latest()[1]
            return json.loads(text) if text else {"panes": [{"step": -1}], "drawn": False}

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (len(latest()["panes"]) == 2 and latest()["panes"][0]["step"] == 1):
            time.sleep(0.05)
        frame = latest()
        assert [p["loss"] for p in frame["panes"]] == ["gan-ns", "gan-minimax"]
        assert [p["step"] for p in frame["panes"]] == [1, 1]
        assert frame["panes"][1]["settings"]["batch_size"] == frame["panes"][0]["settings"]["batch_size"]
        engine.submit(C.Command("draw", points=[[0.1 * i, 0.0] for i in range(10)]))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not latest()["drawn"]:
            time.sleep(0.05)
        assert latest()["drawn"] and len(latest()["panes"]) == 2
    finally:
        engine.bus.unwatch(token)
        engine.stop()
