"""Forms benchmark: one-shots and phrases from a tiny model trained on the shared drums set -> docs/forms.md.

    uv run --frozen python benchmarks/forms.py [--home DIR] [--train-minutes 5] [--reuse]

1. trains (or reuses) ``sda train ../shared/datasets/drums -m drums --size tiny --max-minutes M`` (CLI, timed);
2. generates 12 one-shots (``sda generate drums --variations 12 -o DIR/``, the engine call the CLI makes) and
   measures each re-read from disk: the four one-shot checks against the model's stored reference and the
   novelty (nearest training event / the held-out files' median nearest distance; onset-aligned mean absolute
   log-mel difference, every clip peak-normalised first so the export's level does not count);
3. generates phrases: 5 density positions x 3 seeds (Spearman of onset rate vs density), the floor between
   strokes vs the real files' quiet floor, the IOI CV at pulse +1;
4. draws a spectrogram sheet (real one-shots, generated one-shots, a phrase) to docs/forms/sheet.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _spectrograms import Panel, render_figure  # noqa: E402

from sda_audio.atomic import atomic_write_json  # noqa: E402
from sda_audio.events import detect_events  # noqa: E402
from sda_audio.io import read_audio  # noqa: E402
from sda_audio.oneshot_checks import check_oneshot, novelty, phrase_measures  # noqa: E402

log = logging.getLogger("benchmarks.forms")
OUT = ROOT / "docs" / "forms"
DRUMS = (ROOT / ".." / "shared" / "datasets" / "drums").resolve()
SR = 44100
DENSITIES = (-1.0, -0.5, 0.0, 0.5, 1.0)
SEEDS = (0, 1, 2)


def train(home: Path, minutes: float, reuse: bool) -> tuple[float | None, str]:
    model = home / "models" / "drums.sda"
    if reuse and model.is_file():
        return None, "reused"
    env = {**os.environ, "SDA_HOME": str(home)}
    t0 = time.monotonic()
    cmd = ["sda", "train", str(DRUMS), "-m", "drums", "--size", "tiny", "--max-minutes", str(minutes),
           "--device", "cpu", "--overwrite"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return (time.monotonic() - t0) / 60.0, done.stdout


def peak_norm(x: np.ndarray) -> np.ndarray:
    peak = float(np.abs(x).max())
    return x / peak * 0.9 if peak > 0 else x


def logmel_db(x: np.ndarray) -> np.ndarray:
    import torch

    from sda_models.mel import log_mel

    mel = log_mel(torch.from_numpy(peak_norm(np.asarray(x, dtype=np.float32))).unsqueeze(0))[0].numpy()
    return mel * (20.0 / np.log(10.0))  # natural-log magnitude -> dB


def mono44(path: str | Path) -> np.ndarray:
    return read_audio(path, sample_rate=SR, mono=True).samples[0]


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b)[0])  # pyright: ignore[reportArgumentType, reportIndexIssue]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=Path("/tmp/sda-forms-bench"))
    parser.add_argument("--train-minutes", type=float, default=5.0)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    torch.set_num_threads(2)
    from sda_engine import GenerationRequest, ModelSession, generate_files, read_metadata

    home = args.home
    home.mkdir(parents=True, exist_ok=True)
    minutes, train_out = train(home, args.train_minutes, args.reuse)
    meta = read_metadata(home / "models" / "drums.sda")
    form = meta["form"]
    ref_d = form["oneshot_reference"]
    from sda_audio.oneshot_checks import OneShotReference

    ref = OneShotReference(**ref_d)
    files = meta["dataset"]["files"]
    val = set(meta["dataset"]["val_files"])
    train_mels = [logmel_db(mono44(f)) for f in files if f not in val]
    held_mels = [logmel_db(mono44(f)) for f in files if f in val]
    real_floor = float(np.median([detect_events(mono44(f), SR).floor_db - detect_events(mono44(f), SR).peak_db
                                  for f in files]))

    session = ModelSession.open(home / "models" / "drums.sda", "cpu", home)
    run = home / "out"
    t0 = time.monotonic()
    run.mkdir(parents=True, exist_ok=True)
    shots_dir = run / f"oneshots-{int(time.time())}"
    results = generate_files(session, GenerationRequest().replace(variations=12, seed=0, channels="mono"),
                             f"{shots_dir}/")
    shot_seconds = time.monotonic() - t0
    shots = []
    for r in results:
        x = mono44(r.path)
        m = detect_events(x, SR)
        rep = check_oneshot(m, ref)
        shots.append({"file": r.path.name, "passed": rep.passed,
                      **{c.name: {"passed": c.passed, "value": round(float(c.value), 4)} for c in rep.checks},
                      "novelty": round(novelty(logmel_db(x), train_mels, held_mels), 3),
                      "file_seconds": round(x.size / SR, 3),
                      "engine_passed": r.notes["form"]["passed"],
                      "streams": r.notes["form"]["streams_rendered"]})
        log.info("%s", shots[-1])
    pass_rate = float(np.mean([s["passed"] for s in shots]))
    med_nov = float(np.median([s["novelty"] for s in shots]))

    t1 = time.monotonic()
    import soundfile as sf

    from sda_engine.generate.forms import room_tone_of, timing_of
    from sda_engine.generate.oneshots import stream_seconds
    from sda_engine.generate.phrases import render_phrase, stroke_pool
    from sda_engine.generate.renderer import Renderer

    timing = timing_of(meta)
    tone = room_tone_of(meta)
    stream_req = GenerationRequest().replace(channels="mono", duration=stream_seconds(ref))
    renderer = Renderer(session, stream_req)
    phrases, pulsed = [], []
    for seed in SEEDS:  # one stroke pool per seed, shared by its timings (what render_phrase would render)
        pool = stroke_pool(renderer, seed, ref, lambda e: None, None)
        for d in DENSITIES:
            audio = render_phrase(renderer, seed, 8.0, ref, timing, {"density": d}, strokes=pool, tone=tone)
            path = run / f"phrase-d{d:+.1f}-s{seed}.wav"
            sf.write(path, audio.samples[0], audio.sample_rate, subtype="FLOAT")
            m = detect_events(audio.samples[0], audio.sample_rate)
            pm = phrase_measures(m)
            phrases.append({"density": d, "seed": seed, "file": path.name, "onset_rate": round(pm.onset_rate, 3),
                            "gap_floor_db": round(pm.gap_floor_db, 1),
                            "floor_db_re_peak": round(m.floor_db - m.peak_db, 1),
                            "digital_silence_share": round(float(np.mean(audio.samples[0] == 0.0)), 3),
                            "planned_rate": audio.notes["form"]["steered"]["density"]["events_per_second"],
                            "strokes_passing": audio.notes["form"]["strokes_passing"]})
            log.info("%s", phrases[-1])
        audio = render_phrase(renderer, seed, 8.0, ref, timing, {"pulse": 1.0}, strokes=pool, tone=tone)
        path = run / f"phrase-pulse-s{seed}.wav"
        sf.write(path, audio.samples[0], audio.sample_rate, subtype="FLOAT")
        pm = phrase_measures(detect_events(audio.samples[0], audio.sample_rate))
        pulsed.append({"seed": seed, "file": path.name, "ioi_cv": round(pm.ioi_cv, 3),
                       "planned": audio.notes["form"]["steered"]["pulse"]})
    rho = spearman([p["density"] for p in phrases], [p["onset_rate"] for p in phrases])
    phrase_seconds = time.monotonic() - t1

    real_shots = [f for f in files if "roll" not in f][:6]
    panels_real = [Panel(Path(f).stem.replace("drum_", ""), mono44(f)) for f in real_shots]
    panels_gen = [Panel(r.path.stem, mono44(r.path)) for r in results[:6]]
    phrase_file = run / phrases[len(phrases) // 2]["file"]
    sheet = render_figure([("real one-shots", panels_real), ("generated one-shots", panels_gen),
                           ("generated phrase (density 0)", [Panel(phrase_file.name, mono44(phrase_file))])],
                          OUT / "sheet.png", max_seconds=8.0, title="drums: real vs generated")
    summary: dict[str, Any] = {
        "train_minutes": minutes, "form": {k: form[k] for k in ("form", "counts", "message")},
        "reference": ref_d, "oneshots": shots, "pass_rate": pass_rate, "median_novelty": med_nov,
        "oneshot_seconds": shot_seconds, "phrases": phrases, "spearman_density_rate": rho,
        "real_floor_db_re_peak": real_floor, "pulse_plus_one": pulsed, "phrase_seconds": phrase_seconds,
        "sheet": str(sheet.relative_to(ROOT)), "train_output_tail": train_out[-2000:],
    }
    atomic_write_json(OUT / "results.json", summary)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("oneshots", "phrases", "train_output_tail")},
                     indent=1))


if __name__ == "__main__":
    main()
