"""Timbre controls of a one-shot model, as `sda generate` realises them, against the model's fitted realisation.

For a one-shot model (the drums of benchmarks/forms.py, say) `sda generate --brightness 0.8` makes each hit a
variation of the kit's brighter hits (``searched``: sda_engine.generate.oneshot_variations). This sweeps
brightness, warmth, roughness, tension and reverb over ``--positions`` x ``--seeds`` one-shots, re-measures them
with the real descriptors and scores them with sda_control.evaluate (rho, effect in the real hits' spread,
cross-talk), twice: ``searched`` (the hits chosen) and ``fitted`` (the uniform draw, the control realised as the
model's control map says: latent, searched through the decoder or the labelled assist).

    uv run --no-sync python benchmarks/oneshot_controls.py /tmp/forms6/models/drums.sda --home /tmp/forms6 \
        --out docs/controls/oneshot-drums.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CONTROLS = ("brightness", "warmth", "roughness", "tension", "reverb")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--home", type=Path, required=True, help="the sda home the model lives in")
    ap.add_argument("--positions", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    import torch

    import sda_engine.generate.oneshot_variations as variations
    from sda_audio.atomic import atomic_write_json
    from sda_audio.descriptors import DESCRIPTOR_NAMES, describe
    from sda_audio.progress import CancelToken
    from sda_audio.resample import resample
    from sda_control.evaluate import TARGETS, evaluate_controls
    from sda_engine import GenerationRequest, ModelSession
    from sda_engine.generate.pipeline import form_renderer

    torch.set_num_threads(1)
    session = ModelSession.open(a.model, "cpu", a.home)
    pool = variations.HitPool.of(session)
    if pool is None:
        print(f"{a.model}: no hits to vary (no corpus index or fewer than two training one-shots)")
        return 1
    real = np.array([[describe(np.asarray(resample(h[None], session.sample_rate, 44100))[0]
                               if session.sample_rate != 44100 else h, 44100)[k] for k in DESCRIPTOR_NAMES]
                     for h in pool.audio])
    reference_std: dict[str, float] = {str(k): float(v) for k, v in zip(DESCRIPTOR_NAMES, np.nan_to_num(real).std(axis=0), strict=True)}

    def render(values: dict[str, float], seed: int, options: Any = variations.DEFAULT_VARIATIONS) -> np.ndarray:
        request = GenerationRequest().replace(channels="mono", seed=seed, **values)
        audio = form_renderer(session, request, "oneshot", "request", lambda e: None, CancelToken(), options)(seed)
        x = audio.samples.mean(axis=0)
        return x if audio.sample_rate == 44100 else np.asarray(resample(x[None], audio.sample_rate, 44100))[0]

    result: dict[str, Any] = {"model": str(a.model), "hits": pool.names, "reference_std": reference_std,
                              "positions": a.positions, "seeds": a.seeds, "targets": TARGETS}
    for mode in ("searched", "fitted"):  # searched: SELECTABLE chosen, the rest fitted
        options = dataclasses.replace(variations.DEFAULT_VARIATIONS,
                                      selectable=variations.SELECTABLE if mode == "searched" else ())
        t0 = time.monotonic()
        report = evaluate_controls(lambda values, seed, options=options: render(values, seed, options), CONTROLS,
                                   a.positions, tuple(range(a.seeds)), reference_std)
        rows = {name: {"rho": s.rho, "effect": s.effect, "crosstalk": s.crosstalk, "crosstalk_with": s.crosstalk_with,
                       "meets": s.rho >= TARGETS["rho"] and s.effect >= TARGETS["effect"]
                       and s.crosstalk <= TARGETS["crosstalk"], "means": s.means}
                for name, s in report.scores.items()}
        result[mode] = {"seconds": round(time.monotonic() - t0, 1), "scores": rows}
        for name, r in rows.items():
            print(f"{mode:8s} {name:10s} rho {r['rho']:+.2f} effect {r['effect']:+.2f} crosstalk {r['crosstalk']:.2f} "
                  f"({r['crosstalk_with']}){' MEETS' if r['meets'] else ''}")
        print(f"{mode}: {sum(r['meets'] for r in rows.values())} of {len(rows)} meet every target, "
              f"{result[mode]['seconds']} s")
    with_realised = GenerationRequest().replace(channels="mono", seed=0, brightness=1.0)
    audio = form_renderer(session, with_realised, "oneshot", "request", lambda e: None, CancelToken())(0)
    result["realised_as"] = audio.notes.get("controls")
    atomic_write_json(a.out, result)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
