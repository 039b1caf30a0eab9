"""Run configs: typed overrides, unknown keys, ranges, presets, and resolution against the loss defaults."""

import pytest

from gankit.errors import ConfigError
from gankit.losses import LOSSES
from gankit.training.config import (
    PRESET_DIR,
    RunConfig,
    all_keys,
    apply_mapping,
    from_dict,
    load_yaml,
    parse_assignment,
    qualify_key,
    set_value,
    validate,
)
from gankit.training.defaults import preset_in_use, resolve


def test_set_value_checks_types_and_converts_ints_to_floats():
    cfg = RunConfig()
    set_value(cfg, "loss.lr_g", 1)
    assert cfg.loss.lr_g == 1.0 and isinstance(cfg.loss.lr_g, float)
    set_value(cfg, "steps", 10)  # a unique bare key
    assert cfg.train.steps == 10
    with pytest.raises(ConfigError, match="train.steps must be an integer"):
        set_value(cfg, "train.steps", "many")
    with pytest.raises(ConfigError, match="must be an integer"):
        set_value(cfg, "train.steps", True)


def test_unknown_keys_name_the_valid_ones():
    with pytest.raises(ConfigError, match="did you mean 'train.steps'"):
        set_value(RunConfig(), "train.step", 3)
    with pytest.raises(ConfigError, match="sections are model, data, loss, train"):
        set_value(RunConfig(), "optim.lr", 3)
    with pytest.raises(ConfigError, match="ambiguous"):
        qualify_key("name")


def test_parse_assignment_reads_yaml_data_only():
    assert parse_assignment("loss.lr_g=1e-4") == ("loss.lr_g", 1e-4)
    assert parse_assignment("model.d_norm=none") == ("model.d_norm", None)
    key, value = parse_assignment("data.name=!!python/object/apply:os.system ['echo hi']")
    assert key == "data.name" and isinstance(value, str)  # unsafe YAML is kept as a plain string, never run
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignment("oops")


@pytest.mark.parametrize("key,value,message", [
    ("train.steps", 0, "train.steps must be > 0"),
    ("train.ema", 1.0, "train.ema must be in"),
    ("train.device", "tpu", "train.device must be one of auto, cpu, cuda, mps"),
    ("loss.beta1", 1.5, "loss.beta1 must be in"),
    ("model.noise", "gauss", "model.noise must be one of uniform, normal"),
])
def test_ranges_and_choices(key, value, message):
    cfg = RunConfig()
    set_value(cfg, key, value)
    with pytest.raises(ConfigError, match=message):
        validate(cfg)


def test_every_key_listed_and_round_trip():
    assert "loss.d_steps" in all_keys() and "train.precision" in all_keys()
    cfg = RunConfig()
    set_value(cfg, "train.seed", 7)
    assert from_dict(cfg.to_dict()) == cfg


def test_resolve_fills_paper_defaults_for_each_loss():
    for name, spec in LOSSES.items():
        cfg = RunConfig()
        set_value(cfg, "loss.name", name)
        out = resolve(cfg, data_kind="images", image_size=32)
        assert out.loss.d_steps == spec.d_steps
        assert out.loss.lr_g == spec.lr and out.loss.lr_d == spec.lr
        assert (out.loss.beta1, out.loss.beta2) == tuple(spec.betas)
        assert out.loss.gp_weight == spec.gp_weight
        assert out.model.d_norm == spec.d_norm
        assert out.model.name == "dcgan" and out.model.z_dim == 100
        assert cfg.loss.d_steps is None  # the request is not modified
    toy = resolve(RunConfig(), data_kind="points", image_size=None)
    assert toy.model.name == "mlp" and toy.model.d_norm == "none"


def test_user_values_win_over_defaults():
    cfg = RunConfig()
    set_value(cfg, "loss.name", "wgan")
    set_value(cfg, "loss.d_steps", 2)
    set_value(cfg, "loss.clip", 0.05)
    out = resolve(cfg, data_kind="images", image_size=32)
    assert out.loss.d_steps == 2 and out.loss.clip == 0.05 and out.loss.optimizer == "rmsprop"


@pytest.mark.parametrize("path", sorted(PRESET_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_presets_load_and_validate(path):
    cfg = RunConfig()
    apply_mapping(cfg, load_yaml(path), str(path))
    validate(cfg)
    spec = LOSSES[cfg.loss.name]
    assert cfg.loss.d_steps == spec.d_steps


def test_bad_preset_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(bad)
    bad.write_text("modle:\n  width: 3\n")
    with pytest.raises(ConfigError, match="did you mean 'model'"):
        apply_mapping(RunConfig(), load_yaml(bad), str(bad))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_yaml(tmp_path / "missing.yaml")


def test_a_date_like_text_value_stays_text():
    """YAML reads 2020-01-01 as a date; a text key such as data.root keeps it as the text it was."""
    cfg = RunConfig()
    key, value = parse_assignment("data.root=2020-01-01")
    set_value(cfg, key, value)
    assert cfg.data.root == "2020-01-01"


def test_a_huge_toy_set_is_a_config_error_not_an_allocation_failure():
    cfg = RunConfig()
    set_value(cfg, "data.n_points", 6965119376191615)
    with pytest.raises(ConfigError, match="data.n_points must be at most 100,000,000"):
        validate(cfg)


def fashion(**settings) -> RunConfig:
    cfg = RunConfig()
    for key, value in {"data.name": "fashion-mnist", **settings}.items():
        set_value(cfg, key, value)
    return cfg


def assert_takes_preset(out: RunConfig, preset: str) -> None:
    """Every key of the shipped ``preset`` has the preset's value in the resolved ``out``."""
    for section, values in load_yaml(PRESET_DIR / f"{preset}.yaml").items():
        for name, value in values.items():
            assert getattr(getattr(out, section), name) == value, f"{section}.{name}"


def test_fashion_mnist_on_a_cpu_defaults_to_its_recommended_preset():
    out = resolve(fashion(), data_kind="images", image_size=32, device_class="cpu")
    assert_takes_preset(out, "fashion-mnist-cpu")


def test_a_conditional_fashion_mnist_run_on_a_cpu_defaults_to_the_conditional_preset():
    out = resolve(fashion(**{"model.conditional": True}), data_kind="images", image_size=32, device_class="cpu")
    assert_takes_preset(out, "fashion-mnist-conditional-cpu")
    assert (out.loss.ac_weight, out.train.ema) == (1.0, 0.0)
    plain = resolve(fashion(), data_kind="images", image_size=32, device_class="cpu")
    assert (plain.loss.ac_weight, plain.model.conditional) == (0.0, False)  # the unconditional preset has no AC


def test_a_cpu_without_native_bf16_takes_the_fp32_preset_and_the_same_conditional_one():
    out = resolve(fashion(), data_kind="images", image_size=32, device_class="cpu-fp32")
    assert_takes_preset(out, "fashion-mnist-cpu-fp32")
    assert (out.model.width, out.loss.lr_g, out.train.ema_rampup_fraction) == (16, 2e-3, 0.05)
    conditional = {"model.conditional": True}
    assert (resolve(fashion(**conditional), data_kind="images", image_size=32, device_class="cpu-fp32").to_dict()
            == resolve(fashion(**conditional), data_kind="images", image_size=32, device_class="cpu").to_dict())


def test_the_preset_in_use_is_named_only_when_it_fills_an_unset_key():
    assert preset_in_use(fashion(), "cpu") == "fashion-mnist-cpu"
    assert preset_in_use(fashion(**{"train.steps": 10}), "cpu-fp32") == "fashion-mnist-cpu-fp32"
    every_key = {f"{section}.{name}": value for section, values in
                 load_yaml(PRESET_DIR / "fashion-mnist-cpu-fp32.yaml").items() for name, value in values.items()}
    assert preset_in_use(fashion(**every_key), "cpu-fp32") is None  # a resumed run's config sets them all
    assert preset_in_use(fashion(), "cuda") is None and preset_in_use(fashion(**{"model.name": "mlp"}), "cpu") is None


def test_the_users_values_win_over_the_recommended_preset():
    out = resolve(fashion(**{"train.ema": 0.0, "train.steps": 10, "model.width": 16}), data_kind="images",
                  image_size=32, device_class="cpu")
    assert (out.train.ema, out.train.steps, out.model.width) == (0.0, 10, 16)
    assert out.train.batch_size == load_yaml(PRESET_DIR / "fashion-mnist-cpu.yaml")["train"]["batch_size"]


@pytest.mark.parametrize("data, device", [("fashion-mnist", "cuda"), ("fashion-mnist", None), ("digits", "cpu")])
def test_other_data_and_devices_keep_the_kind_defaults(data, device):
    out = resolve(fashion(**{"data.name": data}), data_kind="images", image_size=32, device_class=device)
    plain = resolve(fashion(**{"data.name": data}), data_kind="images", image_size=32)
    assert out.to_dict() == plain.to_dict() and out.train.ema == 0.0


def test_only_the_dcgan_takes_the_dcgan_preset():
    out = resolve(fashion(**{"model.name": "mlp"}), data_kind="images", image_size=32, device_class="cpu")
    plain = resolve(fashion(**{"model.name": "mlp"}), data_kind="images", image_size=32)
    assert out.to_dict() == plain.to_dict() and out.train.steps != 27000
