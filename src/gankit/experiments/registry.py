"""The experiments by name: a plain dict, in the report's order (cheap theory first, training runs last)."""

from __future__ import annotations

from types import ModuleType

from gankit.errors import ConfigError
from gankit.experiments import (
    critic_vs_w1,
    d_strength,
    kl_direction,
    mode_collapse,
    ns_gradient,
    optimal_discriminator,
    parallel_lines,
    vanishing_gradient,
    wgan_critic,
    wgan_figure2,
)

# name -> module; the order is the report's order (cheap theory first, training runs last)
EXPERIMENTS: dict[str, ModuleType] = {
    "parallel-lines": parallel_lines,
    "optimal-discriminator": optimal_discriminator,
    "vanishing-gradient": vanishing_gradient,
    "kl-direction": kl_direction,
    "mode-collapse": mode_collapse,
    "wgan-critic": wgan_critic,
    "ns-gradient": ns_gradient,
    "wgan-figure2": wgan_figure2,
    "d-strength": d_strength,
    "critic-vs-w1": critic_vs_w1,
}

def get_experiment(name: str) -> ModuleType:
    """The module of experiment ``name``; ConfigError listing the names otherwise."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ConfigError(
            f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)} (or 'all')"
        ) from None
