"""Forms benchmark: one-shots and phrases from models trained with the default recipe on three one-shot sets
-> docs/forms/results.json and docs/forms/sheet-<set>.png (read by docs/forms.md).

    uv run --no-sync python benchmarks/forms.py [--sets drums,plucks,synth-hits] [--home DIR]
        [--train-minutes M] [--reuse] [--force] [--quick]

Sets: ``drums`` (``../shared/datasets/drums``, 20 real CC0 hits), ``plucks`` (the demo's pluck voice as 16 single
plucks) and ``synth-hits`` (16 one-shots of sda's own synthesis); the last two are written by
``benchmarks/_oneshot_sets.py`` into ``HOME/sets/``. Per set:

1. trains (or, with ``--reuse``, reuses) ``sda train DIR -m NAME --device cpu --overwrite`` - the default,
   budget-driven recipe (10 min, earlier when converged); ``--max-minutes M`` only with ``--train-minutes M`` -
   timed, with the trainer's last lines kept;
2. generates 12 one-shots (``generate_files`` with ``variations=12``, the engine call ``sda generate NAME
   --variations 12 -o DIR/`` makes) and measures each re-read from disk: the four one-shot checks against the
   model's stored reference and the novelty (nearest training file / the held-out files' median nearest distance;
   onset-aligned mean absolute log-mel difference, every clip peak-normalised first);
3. generates phrases on the material's room tone: 5 density positions x 3 seeds (Spearman of measured onset rate
   vs density), their quiet floor (10th-percentile frame level re peak, the measure the real files get) and floor
   between strokes (``phrase_measures().gap_floor_db``) against the real files' quiet floor (median over files of
   ``floor_db - peak_db``), and the inter-onset CV at pulse +1 over 3 seeds;
4. draws a spectrogram sheet (real one-shots, generated one-shots, generated phrases) to
   ``docs/forms/sheet-<set>.png``.

Results go to ``docs/forms/results.json`` under ``sets.<name>``, written after each set; a set already there is
skipped unless ``--force`` (so a stopped run resumes). ``--quick`` (1 training minute, 4 one-shots, 2 densities x
1 seed) is a smoke run and writes under ``HOME/quick/`` instead of docs/.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _oneshot_sets import write_set  # noqa: E402
from _spectrograms import Panel, render_figure  # noqa: E402

from sda_audio.atomic import atomic_write_json  # noqa: E402
from sda_audio.events import detect_events  # noqa: E402
from sda_audio.io import read_audio  # noqa: E402
from sda_audio.oneshot_checks import OneShotReference, check_oneshot, novelty, phrase_measures  # noqa: E402

log = logging.getLogger("benchmarks.forms")
OUT = ROOT / "docs" / "forms"
DRUMS = (ROOT / ".." / "shared" / "datasets" / "drums").resolve()
SETS = ("drums", "plucks", "synth-hits")
SR = 44100
TARGETS = {"pass_rate": 0.8, "novelty": (0.5, 1.8), "spearman": 0.9, "floor_db": 6.0, "pulse_cv": 0.1}


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def code_version() -> dict[str, Any]:
    """Which sda code measured: this checkout's HEAD and whether its packages hold uncommitted changes, or, when
    sda is imported from elsewhere (a ``git archive`` snapshot on PYTHONPATH), ``$SDA_CODE_COMMIT``."""
    import sda_engine

    where = Path(sda_engine.__file__).resolve().parent
    if not where.is_relative_to(ROOT):
        return {"sda_engine": str(where), "commit": os.environ.get("SDA_CODE_COMMIT"), "dirty": None}

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {"sda_engine": str(where), "commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--", "packages", "apps"))}


def set_folder(name: str, home: Path) -> Path:
    if name == "drums":
        return DRUMS
    folder = home / "sets" / name
    if not any(folder.glob("*.wav")):
        write_set(name, folder)
    return folder


def train(name: str, folder: Path, home: Path, minutes: float | None, reuse: bool, seed: int = 0) -> dict[str, Any]:
    model = home / "models" / f"{name}.sda"
    cmd = ["sda", "train", str(folder), "-m", name, "--device", "cpu", "--overwrite"]
    if seed:
        cmd += ["--seed", str(seed)]
    if minutes is not None:
        cmd += ["--max-minutes", f"{minutes:g}"]
    where = f"../{folder.relative_to(ROOT.parent)}" if folder.is_relative_to(ROOT.parent) else str(folder)
    shown = " ".join(["sda", "train", where, *cmd[3:]])
    if reuse and model.is_file():
        return {"command": shown, "wall_minutes": None, "end": "reused", "load_before": uptime()}
    env = {**os.environ, "SDA_HOME": str(home)}
    load = uptime()
    t0 = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = (time.monotonic() - t0) / 60.0
    if done.returncode != 0:
        raise RuntimeError(f"{shown} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    lines = [ln for ln in done.stdout.splitlines() if ln.strip()]
    log.info("%s: trained in %.1f min: %s", name, wall, " | ".join(lines[-3:]))
    return {"command": shown, "wall_minutes": round(wall, 2), "end": lines[-4:], "load_before": load,
            "stdout_tail": done.stdout[-3000:], "stderr_tail": done.stderr[-1500:]}


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


def real_panels(files: list[str], n: int = 6) -> list[Panel]:
    """``n`` real one-shots: the first of each kind when the names say the kind (``hit_03_snare``: digits left
    out) and there are at least ``n`` kinds, else spread over the sorted set (drums' roll, not a one-shot, left out)."""
    pick = sorted(f for f in files if "roll" not in Path(f).name)
    kinds: dict[str, str] = {}
    for f in pick:
        kinds.setdefault(re.sub(r"\d+", "", Path(f).stem), f)
    if n <= len(kinds) < len(pick):
        chosen = list(kinds.values())[:n]
    else:
        chosen = [pick[i] for i in np.unique(np.linspace(0, len(pick) - 1, min(n, len(pick))).round().astype(int))]
    return [Panel(Path(f).stem.replace("drum_", ""), mono44(f)) for f in chosen]


def run_set(name: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from sda_engine import GenerationRequest, ModelSession, generate_files, read_metadata

    home: Path = args.home
    quick: bool = args.quick
    folder = set_folder(name, home)
    trained = train(name, folder, home, 1.0 if quick else args.train_minutes, args.reuse, args.train_seed)
    model = home / "models" / f"{name}.sda"
    meta = read_metadata(model)
    form = meta["form"]
    ref_d = form["oneshot_reference"]
    ref = OneShotReference(**ref_d)
    files = list(meta["dataset"]["files"])
    val = set(meta["dataset"]["val_files"])
    if not val:
        raise RuntimeError(f"{name}: the model holds no held-out files; novelty needs some")
    train_mels = [logmel_db(mono44(f)) for f in files if f not in val]
    held_mels = [logmel_db(mono44(f)) for f in files if f in val]
    real_maps = [detect_events(mono44(f), SR) for f in files]
    real_floor = float(np.median([m.floor_db - m.peak_db for m in real_maps]))

    session = ModelSession.open(model, "cpu", home)
    run = home / "out" / name
    run.mkdir(parents=True, exist_ok=True)
    n_shots = 4 if quick else 12
    t0 = time.monotonic()
    shots_dir = run / f"oneshots-{int(time.time())}"
    results = generate_files(session, GenerationRequest().replace(variations=n_shots, seed=0, channels="mono"),
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
                      "floor_db_re_peak": round(m.floor_db - m.peak_db, 1),
                      "engine_passed": r.notes["form"]["passed"],
                      "method": r.notes["form"].get("method"),
                      "between": r.notes["form"].get("between"),
                      "amount": r.notes["form"].get("amount"),
                      "streams": r.notes["form"].get("streams_rendered")})
        log.info("%s %s", name, shots[-1])
    pass_rate = float(np.mean([s["passed"] for s in shots]))
    med_nov = float(np.median([s["novelty"] for s in shots]))

    t1 = time.monotonic()
    import soundfile as sf

    from sda_audio.progress import CancelToken
    from sda_engine.generate.phrases import render_phrase
    from sda_engine.generate.pipeline import form_renderer

    densities = (-1.0, 1.0) if quick else (-1.0, -0.5, 0.0, 0.5, 1.0)
    seeds = (0,) if quick else (0, 1, 2)
    # what sda generate --form phrase renders (the same strokes, renderer and material)
    phrasing = form_renderer(session, GenerationRequest().replace(channels="mono", form="phrase", duration=8.0),
                             "phrase", "request", lambda e: None, CancelToken())
    renderer, material, tone = phrasing.renderer, phrasing.material, phrasing.tone
    phrases, pulsed = [], []
    for seed in seeds:  # one stroke pool per seed, shared by its timings (what render_phrase would render)
        pool = phrasing.strokes(seed)
        for d in densities:
            audio = render_phrase(renderer, seed, 8.0, material, {"density": d}, strokes=pool)
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
            log.info("%s %s", name, phrases[-1])
        audio = render_phrase(renderer, seed, 8.0, material, {"pulse": 1.0}, strokes=pool)
        path = run / f"phrase-pulse-s{seed}.wav"
        sf.write(path, audio.samples[0], audio.sample_rate, subtype="FLOAT")
        pm = phrase_measures(detect_events(audio.samples[0], audio.sample_rate))
        pulsed.append({"seed": seed, "file": path.name, "ioi_cv": round(pm.ioi_cv, 3),
                       "planned": audio.notes["form"]["steered"]["pulse"]})
        log.info("%s %s", name, pulsed[-1])
    rho = spearman([p["density"] for p in phrases], [p["onset_rate"] for p in phrases])
    phrase_seconds = time.monotonic() - t1
    floor = float(np.median([p["floor_db_re_peak"] for p in phrases]))
    gap = float(np.median([p["gap_floor_db"] for p in phrases]))
    cvs = [p["ioi_cv"] for p in pulsed]
    cv_max = float(np.max(cvs)) if np.isfinite(cvs).all() else float("nan")  # a seed with < 3 onsets: unmeasured

    mid = next(p for p in phrases if p["density"] == (0.0 if not quick else densities[-1]))
    sheet = render_figure(
        [("real one-shots", real_panels(files)),
         ("generated one-shots", [Panel(r.path.stem, mono44(r.path)) for r in results[:6]]),
         ("generated phrases", [Panel(f"density {mid['density']:+g}, seed {mid['seed']}", mono44(run / mid["file"])),
                                Panel(f"pulse +1, seed {pulsed[0]['seed']}", mono44(run / pulsed[0]["file"]))])],
        out / f"sheet-{name}.png", max_seconds=8.0, title=f"{name}: real vs generated")
    lo, hi = TARGETS["novelty"]
    verdicts = {"pass_rate": pass_rate >= TARGETS["pass_rate"], "median_novelty": lo <= med_nov <= hi,
                "spearman": rho >= TARGETS["spearman"], "floor": abs(floor - real_floor) <= TARGETS["floor_db"],
                "gap_floor": abs(gap - real_floor) <= TARGETS["floor_db"],
                "pulse_cv": bool(np.isfinite(cv_max) and cv_max < TARGETS["pulse_cv"])}
    return {
        "set": name, "folder": str(folder), "files": len(files), "held_out": len(val), "train": trained,
        "metrics": meta.get("metrics"), "kind": meta.get("kind"),
        "size": meta.get("training", {}).get("size"), "max_minutes": meta.get("training", {}).get("max_minutes"),
        "form": {k: form[k] for k in ("form", "counts", "message")}, "reference": ref_d,
        "room_tone_db": (tone.level_db if tone is not None else None),
        "oneshots": shots, "pass_rate": pass_rate, "median_novelty": med_nov,
        "checks_passed": {c: int(sum(s[c]["passed"] for s in shots)) for c in ("attack", "second_onset", "tail",
                                                                               "length")},
        "oneshot_seconds": round(shot_seconds, 1), "phrases": phrases, "spearman_density_rate": rho,
        "real_floor_db_re_peak": real_floor, "phrase_floor_db_re_peak": floor, "floor_difference_db": floor - real_floor,
        "phrase_gap_floor_db": gap, "gap_floor_difference_db": gap - real_floor,
        "phrases_floor_within_6db": int(sum(abs(p["floor_db_re_peak"] - real_floor) <= TARGETS["floor_db"]
                                            for p in phrases)),
        "pulse_plus_one": pulsed, "pulse_cv_max": cv_max, "phrase_seconds": round(phrase_seconds, 1),
        "phrase_strokes": "variation" if phrasing.pool is not None else "stream",
        "verdicts": verdicts, "sheet": str(sheet.relative_to(ROOT)) if sheet.is_relative_to(ROOT) else str(sheet),
        "load_after": uptime(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--home", type=Path, default=Path("/tmp/sda-forms-bench"))
    parser.add_argument("--train-minutes", type=float, default=None,
                        help="pass --max-minutes to sda train (default: none, the budget-driven default recipe)")
    parser.add_argument("--reuse", action="store_true", help="reuse a model already trained under --home")
    parser.add_argument("--force", action="store_true", help="redo sets already in results.json")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 min, 4 one-shots, 2 densities x 1 seed")
    parser.add_argument("--train-seed", type=int, default=0,
                        help="sda train --seed: another data split (held-out files), initialisation and data order")
    parser.add_argument("--out", type=Path, default=None,
                        help="write results.json and the sheets here instead of docs/forms/")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = sorted(set(sets) - set(SETS))
    if unknown:
        parser.error(f"unknown sets {unknown}; known: {', '.join(SETS)}")
    if args.quick:
        args.home = args.home / "quick"
    args.home.mkdir(parents=True, exist_ok=True)
    out = args.out or (args.home / "report" if args.quick else OUT)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    if "sets" not in results:  # an older, single-set file
        results = {"sets": {}}
    results["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "omp_threads": os.environ.get("OMP_NUM_THREADS"), "python": platform.python_version()}
    results.pop("code", None)  # recorded per set: sets may be measured on different code
    results["targets"] = TARGETS
    for name in sets:
        if name in results["sets"] and not args.force:
            log.info("%s: already in %s (--force to redo)", name, path)
            continue
        argv_shown = ["python", "benchmarks/forms.py", *(argv if argv is not None else sys.argv[1:])]
        summary = {"argv": " ".join(argv_shown), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                   "code": code_version(), **run_set(name, args, out)}
        results["sets"][name] = summary
        atomic_write_json(path, results)
        print(json.dumps({k: v for k, v in summary.items()
                          if k not in ("oneshots", "phrases", "train", "pulse_plus_one")}, indent=1), flush=True)


if __name__ == "__main__":
    main()
