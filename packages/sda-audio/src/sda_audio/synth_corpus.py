"""sda's own sounds for the base corpus: seeded recipes over :mod:`sda_audio.synth` (numpy only).

A recipe is ``(kind, params, seed)``: :func:`draw_recipe` picks the params of the ``index``-th sound of a kind
from the corpus seed, :func:`render_recipe` turns a recipe into mono float64 audio at 44.1 kHz. Both are
deterministic, and the params are plain JSON, so a manifest that records them says exactly how to make the
sound again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sda_audio import synth

SAMPLE_RATE = synth.SAMPLE_RATE
KINDS = ("noise_band", "fm", "additive", "pluck", "bowed", "blown", "granular")
"""Every kind of synthetic sound, in the order the corpus cycles through them."""
ROOM_SHARE = 0.35
"""The share of synthetic sounds placed in a synthetic room (an exponentially decaying noise impulse response)."""


def recipe_seed(corpus_seed: int, kind: str, index: int) -> int:
    """The seed of the ``index``-th sound of ``kind`` in a corpus made with ``corpus_seed`` (a 32-bit int)."""
    state = np.random.SeedSequence([corpus_seed, KINDS.index(kind), index]).generate_state(1)
    return int(state[0])


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def draw_recipe(kind: str, seed: int, short: bool = False) -> dict[str, Any]:
    """The params of one sound of ``kind`` drawn from ``seed`` (``short``: about a second, for quick corpora)."""
    if kind not in KINDS:
        raise ValueError(f"unknown synthesis kind {kind!r}; choose from {KINDS}")
    rng = np.random.default_rng([seed, 1])
    seconds = round(float(rng.uniform(0.8, 1.2) if short else rng.uniform(2.0, 6.0)), 3)
    p: dict[str, Any] = {"seconds": seconds}
    if kind == "noise_band":
        low = _log_uniform(rng, 40.0, 8000.0)
        p.update(low=round(low, 1), high=round(min(low * 2 ** rng.uniform(0.3, 3.0), 20000.0), 1),
                 attack=round(float(rng.uniform(0.005, seconds / 2)), 3),
                 release=round(float(rng.uniform(0.05, seconds / 2)), 3))
    elif kind == "fm":
        p.update(carrier=round(_log_uniform(rng, 55.0, 1760.0), 2),
                 ratio=float(rng.choice([0.5, 1.0, 1.4142, 2.0, 3.0, 3.5, 7.0])),
                 index=round(float(rng.uniform(0.3, 8.0)), 2),
                 index_decay=round(float(rng.uniform(0.1, 2.0)), 3) if rng.random() < 0.7 else None,
                 amp_decay=round(float(rng.uniform(0.3, 3.0)), 3) if rng.random() < 0.6 else None)
    elif kind == "additive":
        p.update(f0=round(_log_uniform(rng, 40.0, 1500.0), 2), partials=int(rng.integers(3, 40)),
                 tilt=round(float(rng.uniform(0.5, 2.5)), 2),
                 inharmonicity=round(float(rng.choice([0.0, 0.0, 1e-4, 1e-3, 5e-3])), 5),
                 decay=round(float(rng.uniform(0.3, 4.0)), 3) if rng.random() < 0.6 else None)
    elif kind == "pluck":
        f0 = _log_uniform(rng, 55.0, 1200.0)
        p.update(f0=round(f0, 2), decay=round(float(rng.uniform(0.990, 0.9995)), 5),
                 brightness=round(float(rng.uniform(0.2, 1.0)), 3), notes=int(rng.integers(1, 5)))
    elif kind in ("bowed", "blown"):
        p.update(f0=round(_log_uniform(rng, 50.0 if kind == "bowed" else 130.0, 1200.0), 2),
                 attack=round(float(rng.uniform(0.05, seconds * 0.4)), 3),
                 release=round(float(rng.uniform(0.1, seconds * 0.4)), 3))
        if kind == "bowed":
            p.update(vibrato_rate=round(float(rng.uniform(4.0, 7.0)), 2),
                     vibrato_depth=round(float(rng.uniform(0.0, 0.012)), 4),
                     brightness=round(float(rng.uniform(0.8, 2.0)), 2))
        else:
            p.update(breath=round(float(rng.uniform(0.02, 0.5)), 3), odd_only=bool(rng.random() < 0.4))
    else:  # granular
        p.update(source=str(rng.choice(["noise_band", "additive", "fm"])),
                 f0=round(_log_uniform(rng, 80.0, 1200.0), 2),
                 grain=round(float(rng.uniform(0.01, 0.2)), 3), density=round(float(rng.uniform(10, 200)), 1),
                 pitch_spread=round(float(rng.uniform(0.0, 12.0)), 2))
    if rng.random() < ROOM_SHARE:
        p["room"] = {"rt60": round(float(rng.uniform(0.3, 3.5)), 3), "wet": round(float(rng.uniform(0.2, 0.8)), 3),
                     "damping": round(float(rng.uniform(0.0, 1.0)), 3)}
    p["peak_dbfs"] = round(float(rng.uniform(-12.0, -1.0)), 2)
    return p


def _noise_band(rng: np.random.Generator, p: dict[str, Any]) -> np.ndarray:
    n = int(p["seconds"] * SAMPLE_RATE)
    x = synth.noise_band(rng, n, p["low"], p["high"])
    return x * synth.swell(n, p["attack"], p["release"])


def _fm(rng: np.random.Generator, p: dict[str, Any]) -> np.ndarray:
    t = synth.times(p["seconds"])
    x = synth.fm_tone(t, p["carrier"], p["ratio"], p["index"], p["index_decay"])
    if p["amp_decay"]:
        x *= np.exp(-t / p["amp_decay"])
    return synth.fade(x, 0.002, 0.05)


def _additive(rng: np.random.Generator, p: dict[str, Any]) -> np.ndarray:
    t = synth.times(p["seconds"])
    ks = np.arange(1, p["partials"] + 1)
    decays = p["decay"] / ks**0.5 if p["decay"] else None
    x = synth.additive(t, p["f0"], 1.0 / ks ** p["tilt"], decays, p["inharmonicity"], rng)
    return synth.fade(x, 0.003, 0.05)


def _pluck(rng: np.random.Generator, p: dict[str, Any]) -> np.ndarray:
    total = int(p["seconds"] * SAMPLE_RATE)
    out = np.zeros(total)
    step = total // p["notes"]
    for i in range(p["notes"]):
        f0 = p["f0"] * 2 ** (float(rng.choice([0, 2, 3, 5, 7, 10, 12])) / 12) if i else p["f0"]
        start = i * step
        out[start:] += synth.karplus_strong(rng, f0, (total - start) / SAMPLE_RATE, p["decay"], p["brightness"])
    return synth.fade(out, 0.0, 0.05)


def _bowed(rng: np.random.Generator, p: dict[str, Any]) -> np.ndarray:
    return synth.bowed(rng, p["f0"], p["seconds"], p["attack"], p["release"], p["vibrato_rate"],
                       p["vibrato_depth"], p["brightness"])


def _blown(rng: np.random.Generator, p: dict[str, Any]) -> np.ndarray:
    return synth.blown(rng, p["f0"], p["seconds"], p["attack"], p["release"], p["breath"], p["odd_only"])


def _granular(rng: np.random.Generator, p: dict[str, Any]) -> np.ndarray:
    t = synth.times(2.0)
    f0 = p["f0"]
    if p["source"] == "noise_band":
        source = synth.noise_band(rng, t.size, f0, min(f0 * 4, 20000.0))
    elif p["source"] == "additive":
        source = synth.additive(t, f0, 1.0 / np.arange(1, 13), rng=rng)
    else:
        source = synth.fm_tone(t, f0, 1.4142, 3.0)
    x = synth.granular(rng, source, p["seconds"], p["grain"], p["density"], p["pitch_spread"])
    return synth.fade(x, 0.02, 0.1)


_RENDER: dict[str, Callable[[np.random.Generator, dict[str, Any]], np.ndarray]] = {
    "noise_band": _noise_band, "fm": _fm, "additive": _additive, "pluck": _pluck,
    "bowed": _bowed, "blown": _blown, "granular": _granular,
}


def render_recipe(kind: str, params: dict[str, Any], seed: int) -> np.ndarray:
    """Mono float64 audio at 44.1 kHz for one recipe; a room, when asked, keeps its tail (trimmed at -60 dB)."""
    if kind not in _RENDER:
        raise ValueError(f"unknown synthesis kind {kind!r}; choose from {KINDS}")
    rng = np.random.default_rng([seed, 2])
    x = _RENDER[kind](rng, params)
    room = params.get("room")
    if room:
        x = synth.in_room(rng, x, room["rt60"], room["wet"], room["damping"])
    x = synth.trim_tail(x, -60.0)
    return synth.normalise_peak(x, params.get("peak_dbfs", -3.0))
