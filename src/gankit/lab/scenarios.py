"""The lab's one-click scenarios: settings for one or two panes and a two-line caption each.

Each scenario is a plain dict: ``title``, ``caption`` (two lines the page shows), ``data``, and
``panes``: one or two dicts of lab controls (:data:`gankit.lab.controls.CONTROLS`) applied on top of
the toy defaults (:mod:`gankit.training.defaults`). Two panes run side by side on the same seed and
data. docs/lab.md explains what to watch in each.
"""

from __future__ import annotations

from typing import Any

SCENARIOS: dict[str, dict[str, Any]] = {
    "vanishing": {
        "title": "Vanishing gradients",
        "caption": ["A strong D (K=5, lr_d 5e-3) rejects G's samples, which start off the ring: D(G(z)) -> 0.",
                    "Minimax's arrows -dL_G/dx shrink with D(G(z)) (tutorial eq. 1-2) to ~1e-6; the non-saturating ones stay long."],
        "data": "ring8",
        "panes": [{"loss": "gan-minimax", "d_steps": 5, "lr_d": 5e-3},
                  {"loss": "gan-ns", "d_steps": 5, "lr_d": 5e-3}],
    },
    "ns-vs-minimax": {
        "title": "Non-saturating vs minimax",
        "caption": ["Same seed, data and D; only G's loss differs: log(1 - D(G(z))) (A) vs -log D(G(z)) (B).",
                    "Per sample the B arrow is (1 - D)/D times the A arrow (D = D(G(z))): far longer while D wins, alike at D = 1/2."],
        "data": "grid25",
        "panes": [{"loss": "gan-minimax"}, {"loss": "gan-ns"}],
    },
    "mode-collapse": {
        "title": "Mode collapse and mode hopping",
        "caption": ["High learning rates (2e-3), the raw G (no EMA in the picture): G covers some modes, D learns to reject them, G hops on.",
                    "Watch 'modes captured' rise and fall, and the manifold fold (red cells) where G squeezes its noise onto few modes."],
        "data": "ring8",
        "panes": [{"loss": "gan-ns", "lr_g": 2e-3, "lr_d": 2e-3}],
    },
    "wgan-critic": {
        "title": "The W-GAN critic's slope",
        "caption": ["The critic f(x) is a 1-Lipschitz slope from fake to real samples, not a 0/1 classifier; its arrows keep their length.",
                    "Its value gap E f(x) - E f(G(z)) estimates W1 (eq. of Kantorovich-Rubinstein); compare the 'W estimate' curve with the exact W1 dots."],
        "data": "ring8",
        "panes": [{"loss": "wgan-gp"}],
    },
    "clip-vs-gp": {
        "title": "Weight clipping vs gradient penalty",
        "caption": ["Clipping every weight to [-0.01, 0.01] (W-GAN, A) leaves a nearly flat critic: its arrows are ~1e-4 long.",
                    "The gradient penalty (WGAN-GP, B) keeps |grad f| near 1 instead: arrows ~2 long, and W1 falls faster."],
        "data": "ring8",
        "panes": [{"loss": "wgan"}, {"loss": "wgan-gp"}],
    },
}


def public(name: str) -> dict[str, Any]:
    """What the page shows of a scenario: its name, title and caption."""
    s = SCENARIOS[name]
    return {"name": name, "title": s["title"], "caption": list(s["caption"]), "panes": len(s["panes"])}
