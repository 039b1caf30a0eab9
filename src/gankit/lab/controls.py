"""The lab's messages from the page: parsed, size-limited and validated before anything acts on them.

A message is one JSON object (text, at most :data:`MAX_MESSAGE_BYTES`) with a ``cmd`` and the fields
that command takes, nothing else; ``id`` (an integer) is echoed in the reply. Every control value is
checked with the config's own rules (:func:`gankit.training.config.set_value` and
:func:`~gankit.training.config.validate` on a copy of the pane's config), plus the lab's limits
(:data:`LAB_LIMITS`). A message that fails any check raises :class:`LabError` and changes nothing.

=========== ======================================================= ==========================
cmd         fields                                                  effect
=========== ======================================================= ==========================
play        --                                                      train continuously
pause       --                                                      stop after this step
step        --                                                      one step (one phase in slow motion)
reset       --                                                      fresh runs, same seed
set         ``pane`` (0 or 1), ``values`` {control: value}          see :data:`CONTROLS`
speed       ``value``: steps per second, 0 = as fast as possible    pacing only
slowmo      ``value``: true / false                                 one D or G update per frame
draw        ``points``: [[x, y], ...] inside the plot, or null      train on the drawing / on the set
scenario    ``name``: a key of :data:`gankit.lab.scenarios.SCENARIOS` its settings, reset, play
compare     ``values``: {control: value} for pane 2, or null        side by side, or one pane
=========== ======================================================= ==========================
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from gankit.data import TOY_NAMES
from gankit.errors import GankitError
from gankit.training.config import RunConfig, replace, set_value, validate

MAX_MESSAGE_BYTES = 128 * 1024  # the largest message the lab reads (a drawing of 2000 points fits)
MAX_DRAWN_POINTS = 2000
MIN_DRAWN_POINTS = 8
MAX_SPEED = 10_000  # steps per second

# control -> config key; the page names controls, the server maps them to the config
CONTROLS: dict[str, str] = {
    "loss": "loss.name",
    "d_steps": "loss.d_steps",
    "lr_g": "loss.lr_g",
    "lr_d": "loss.lr_d",
    "gp_weight": "loss.gp_weight",
    "clip": "loss.clip",
    "batch_size": "train.batch_size",
    "noise": "model.noise",
    "data": "data.name",
}
# applied to the running trainer (optimiser rates, K, the loss's lambda and c); the others start fresh runs
LIVE_CONTROLS = frozenset({"d_steps", "lr_g", "lr_d", "gp_weight", "clip"})
# keys a loss's paper / tuned defaults fill; a new loss takes its own defaults for them
LOSS_DEFAULTED = ("loss.d_steps", "loss.optimizer", "loss.lr_g", "loss.lr_d", "loss.beta1", "loss.beta2",
                  "loss.gp_weight", "loss.clip")
# limits of the lab on top of the config's rules: a browser must stay responsive
LAB_LIMITS: dict[str, tuple[float, float]] = {"batch_size": (1, 4096), "d_steps": (1, 50)}

COMMANDS: dict[str, frozenset[str]] = {
    "play": frozenset(), "pause": frozenset(), "step": frozenset(), "reset": frozenset(),
    "set": frozenset({"pane", "values"}), "speed": frozenset({"value"}), "slowmo": frozenset({"value"}),
    "draw": frozenset({"points"}), "scenario": frozenset({"name"}), "compare": frozenset({"values"}),
}
REQUIRED: dict[str, frozenset[str]] = {"set": frozenset({"values"}), "speed": frozenset({"value"}),
                                       "slowmo": frozenset({"value"}), "draw": frozenset({"points"}),
                                       "scenario": frozenset({"name"}), "compare": frozenset({"values"})}


class LabError(GankitError):
    """A message the lab refuses; its text goes back to the page as the error reply."""


@dataclass(frozen=True)
class Command:
    """A validated command for the engine.

    Attributes:
        cmd: the command name.
        pane: the pane a ``set`` applies to.
        values: validated control values (``set``, ``compare``), or None.
        config: the pane's requested config with the values applied (``set``, ``compare``).
        value: the ``speed`` / ``slowmo`` value; the ``scenario`` name.
        points: the drawing, float ``[[x, y], ...]`` (``draw``), or None to go back to the data set.
    """

    cmd: str
    pane: int = 0
    values: dict[str, Any] | None = None
    config: RunConfig | None = None
    value: Any = None
    points: list[list[float]] | None = None


def _refuse_constant(name: str) -> float:
    raise LabError(f"{name} is not a number JSON allows; send finite numbers")


def parse_message(text: Any) -> dict[str, Any]:
    """The JSON object in one text message; any other input is a :class:`LabError`."""
    if not isinstance(text, str):
        raise LabError("send text messages holding one JSON object")
    if len(text) > MAX_MESSAGE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
        raise LabError(f"message too large: at most {MAX_MESSAGE_BYTES} bytes")
    try:
        obj = json.loads(text, parse_constant=_refuse_constant)
    except LabError:
        raise
    except (ValueError, RecursionError) as err:  # JSONDecodeError, too many digits, nesting too deep
        raise LabError(f"not valid JSON ({type(err).__name__}); send one JSON object") from None
    if not isinstance(obj, dict):
        raise LabError("a message must be a JSON object with a 'cmd'")
    return obj


def message_id(obj: Any) -> int | None:
    """The message's ``id`` when it is a small integer (echoed in the reply), else None."""
    if isinstance(obj, dict):
        value = obj.get("id")
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
            return value
    return None


def _check_fields(obj: dict[str, Any]) -> str:
    cmd = obj.get("cmd")
    if not isinstance(cmd, str) or cmd not in COMMANDS:
        shown = cmd if isinstance(cmd, str) and len(cmd) <= 40 else type(cmd).__name__
        raise LabError(f"unknown cmd {shown!r}; commands are {', '.join(COMMANDS)}")
    allowed = COMMANDS[cmd] | {"cmd", "id"}
    extra = [k for k in obj if k not in allowed]
    if extra:
        shown = ", ".join(repr(k[:40]) for k in extra[:3])
        raise LabError(f"{cmd} takes {', '.join(sorted(COMMANDS[cmd])) or 'no fields'}; unexpected {shown}")
    missing = REQUIRED.get(cmd, frozenset()) - set(obj)
    if missing:
        raise LabError(f"{cmd} needs {', '.join(sorted(missing))}")
    if "id" in obj and message_id(obj) is None:
        raise LabError("id must be an integer in [0, 2**31)")
    return cmd


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def apply_controls(base: RunConfig, values: Any) -> tuple[dict[str, Any], RunConfig]:
    """``values`` checked and applied to a copy of ``base`` (a pane's requested config).

    Returns ``(values, config)``; raises :class:`LabError` naming the first bad control. A new loss
    takes its own defaults for K, rates, betas, lambda and c unless ``values`` sets them too.
    """
    if not isinstance(values, dict) or not values:
        raise LabError(f"values must be a non-empty object of controls: {', '.join(CONTROLS)}")
    if len(values) > len(CONTROLS):
        raise LabError(f"at most {len(CONTROLS)} controls per message")
    cfg = replace(base)
    if "loss" in values and values["loss"] != base.loss.name:
        for key in LOSS_DEFAULTED:
            set_value(cfg, key, None)
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in CONTROLS:
            shown = name if len(name) <= 40 else name[:40] + "..."
            raise LabError(f"unknown control {shown!r}; controls are {', '.join(CONTROLS)}")
        if name == "data" and value not in TOY_NAMES:
            raise LabError(f"data must be one of {', '.join(TOY_NAMES)} (the lab trains 2-D points); "
                           f"got {str(value)[:40]!r}")
        if name in LAB_LIMITS and _is_number(value):
            low, high = LAB_LIMITS[name]
            if not low <= value <= high:
                raise LabError(f"{name} must be in [{low:g}, {high:g}] in the lab; got {value:g}")
        try:
            set_value(cfg, CONTROLS[name], value)
        except GankitError as err:
            raise LabError(str(err)) from None
        out[name] = getattr(getattr(cfg, CONTROLS[name].split(".")[0]), CONTROLS[name].split(".")[1])
    try:
        validate(cfg)
    except GankitError as err:
        raise LabError(str(err)) from None
    return out, cfg


def check_points(points: Any, extent: tuple[float, float, float, float]) -> list[list[float]] | None:
    """A drawing: ``MIN_DRAWN_POINTS``..``MAX_DRAWN_POINTS`` finite ``[x, y]`` inside ``extent``; None resets."""
    if points is None:
        return None
    if not isinstance(points, list):
        raise LabError("points must be a list of [x, y] pairs, or null")
    if not MIN_DRAWN_POINTS <= len(points) <= MAX_DRAWN_POINTS:
        raise LabError(f"a drawing needs {MIN_DRAWN_POINTS} to {MAX_DRAWN_POINTS} points; got {len(points)}")
    x0, x1, y0, y1 = extent
    out = []
    for p in points:
        if not (isinstance(p, list) and len(p) == 2 and all(_is_number(v) for v in p)):
            raise LabError("each point must be [x, y] with two finite numbers")
        x, y = float(p[0]), float(p[1])
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            raise LabError(f"point ({x:.3g}, {y:.3g}) lies outside the plot [{x0:g}, {x1:g}] x [{y0:g}, {y1:g}]")
        out.append([x, y])
    return out


def validate_command(obj: dict[str, Any], *, configs: list[RunConfig], extent: tuple[float, float, float, float],
                     scenarios: dict[str, Any], replay: bool = False) -> Command:
    """One parsed message as a :class:`Command`, checked against the lab's current state.

    Args:
        obj: from :func:`parse_message`.
        configs: each pane's requested config (one or two).
        extent: the plotted square (drawn points must lie inside it).
        scenarios: the scenario names the lab knows.
        replay: a replay takes play, pause, step, reset and speed only.
    """
    cmd = _check_fields(obj)
    if replay and cmd not in ("play", "pause", "step", "reset", "speed"):
        raise LabError(f"this lab replays a finished run; {cmd} is off (play, pause, step, reset and speed work)")
    if cmd == "set":
        pane = obj.get("pane", 0)
        if not (isinstance(pane, int) and not isinstance(pane, bool) and 0 <= pane < len(configs)):
            raise LabError(f"pane must be {' or '.join(str(i) for i in range(len(configs)))}")
        values, cfg = apply_controls(configs[pane], obj["values"])
        return Command(cmd, pane=pane, values=values, config=cfg)
    if cmd == "speed":
        value = obj["value"]
        if not (_is_number(value) and 0 <= value <= MAX_SPEED):
            raise LabError(f"speed must be a number of steps per second in [0, {MAX_SPEED}] (0: as fast as possible)")
        return Command(cmd, value=float(value))
    if cmd == "slowmo":
        if not isinstance(obj["value"], bool):
            raise LabError("slowmo must be true or false")
        return Command(cmd, value=obj["value"])
    if cmd == "draw":
        return Command(cmd, points=check_points(obj["points"], extent))
    if cmd == "scenario":
        name = obj["name"]
        if not isinstance(name, str) or name not in scenarios:
            raise LabError(f"unknown scenario; scenarios are {', '.join(scenarios)}")
        return Command(cmd, value=name)
    if cmd == "compare":
        if obj["values"] is None:
            return Command(cmd)
        values, cfg = apply_controls(configs[0], obj["values"])
        if "data" in values or "batch_size" in values or "noise" in values:
            raise LabError("side by side panes share data, batch size and noise; compare loss, K, rates, lambda or c")
        return Command(cmd, values=values, config=cfg)
    return Command(cmd)
