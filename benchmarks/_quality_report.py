"""Writing docs/quality.md and docs/quality/results.json from one run of ``benchmarks/sound_quality.py``.

The section "## Changes and their effect (before/after)" is the lead's log of tuning changes: it is read
from the existing report and carried over unchanged on every run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from _quality_bar import CRITERIA

from sda_audio.atomic import atomic_write_json, atomic_write_text

CHANGES_HEADING = "## Changes and their effect (before/after)"
DEFAULT_CHANGES = (
    "Record each tuning change here as before/after rows (this section is kept when the report is "
    "regenerated).\n\n"
    "| date | change | set / kind / vocoder | before | after |\n"
    "|---|---|---|---|---|\n"
)


def preserved_changes(existing: str | None) -> str:
    """The body of the changes section of an existing report (up to the next ``## `` heading)."""
    if not existing or CHANGES_HEADING not in existing:
        return DEFAULT_CHANGES
    body = existing.split(CHANGES_HEADING, 1)[1]
    lines = body.splitlines(keepends=True)
    kept: list[str] = []
    for line in lines:
        if line.startswith("## "):
            break
        kept.append(line)
    text = "".join(kept).strip("\n")
    return (text + "\n") if text else DEFAULT_CHANGES


def _f(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _mark(passed: bool) -> str:
    return "PASS" if passed else "**MISS**"


def _criterion(row: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((c for c in row.get("criteria", []) if c["name"] == name), None)


def _ratio(rate: float | None, real: float | None, floor: float) -> float | None:
    if rate is None or real is None or not (math.isfinite(rate) and math.isfinite(real)):
        return None
    return (rate + floor) / (real + floor)


def _gap(value: float | None, real: float | None) -> str:
    if value is None or real is None or not (math.isfinite(value) and math.isfinite(real)):
        return "n/a"
    return f"{value - real:+.1f} dB"


def _summary(report: dict[str, Any]) -> list[str]:
    out = ["## Verdict summary", "",
           "One row per set, model kind and vocoder. FD = Fréchet distance of the window embedding to the "
           "training part (lower is closer).", "",
           "| set | kind | vocoder | FD gen | FD grains | FD vocoder alone | FD shuffled frames | onset x | "
           "quiet floor gap | novelty | hygiene fails | verdict |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for s in report["sets"]:
        refs = s["references"]
        for run in s["runs"]:
            if "error" in run:
                out.append(f"| {s['name']} | {run['kind']} | - | {run['error']} |||||||| **ERROR** |")
                continue
            for row in run["vocoders"]:
                if "error" in row:
                    out.append(f"| {s['name']} | {run['kind']} | {row['vocoder']} | {row['error']} |||||||| "
                               "**ERROR** |")
                    continue
                onset = _ratio(row.get("onset_rate"), refs.get("onset_rate_real"), report["bar"]["onset_floor"])
                gap = _gap(row.get("quiet_floor_db"), refs.get("quiet_floor_real_db"))
                passed = sum(c["passed"] for c in row["criteria"])
                out.append(
                    f"| {s['name']} | {run['kind']} | {row['vocoder']} | {_f(row['fd_generated'])} | "
                    f"{_f(refs['fd_shuffled_grains'])} | {_f(row['fd_vocoder_random_frames'])} | "
                    f"{_f(row['fd_model_frames_shuffled'])} | {_f(onset)} | "
                    f"{gap} | {_f(row['novelty'])} | "
                    f"{row['hygiene_failures']}/{row['n_generated']} | "
                    f"{'PASS' if row['passed'] else '**MISS**'} ({passed}/{len(row['criteria'])}) |")
    out.append("")
    return out


def _set_section(s: dict[str, Any], report: dict[str, Any], figure_rel: str) -> list[str]:
    refs = s["references"]
    out = [f"## {s['name']}", "",
           f"Source: `{s['source']}`. {len(s['train_files'])} training files ({s['train_seconds']:.1f} s, "
           f"{refs['train_windows']} windows), {len(s['held_out_files'])} held out ({s['held_out_seconds']:.1f} s, "
           f"{refs['held_out_windows']} windows).", "",
           f"Held out: {', '.join(s['held_out_files'])}.", "",
           "| reference (same for every model of the set) | value |", "|---|---:|",
           f"| FD held-out real files → training part (ceiling) | {_f(refs['fd_held_out'])} |",
           f"| FD pink noise → training part (floor) | {_f(refs['fd_pink_noise'])} |",
           f"| FD shuffled 50 ms grains of the training files | {_f(refs['fd_shuffled_grains'])} |",
           "| FD shuffled 50 ms grains of the held-out files (for reading the grains row; not in the bar) | "
           f"{_f(refs.get('fd_shuffled_grains_held_out'))} |",
           f"| onset rate, held-out real (training part) | {_f(refs['onset_rate_real'])}/s "
           f"({_f(refs['onset_rate_train'])}/s) |",
           f"| quiet floor, held-out real (training part) | {_f(refs['quiet_floor_real_db'], 1)} dB "
           f"({_f(refs['quiet_floor_train_db'], 1)} dB) |",
           f"| set level (median file RMS) / silent fraction | {_f(refs['set_level_db'], 1)} dBFS / "
           f"{refs['set_silent_fraction']:.0%} |", ""]
    for run in s["runs"]:
        out += _run_section(s, run, refs)
    if "figure" in s:
        out += [f"![{s['name']}: held-out real files and generations]({figure_rel}/{s['figure']})", ""]
    elif "figure_error" in s:
        out += [f"(spectrogram figure failed: {s['figure_error']})", ""]
    return out


def _run_section(s: dict[str, Any], run: dict[str, Any], refs: dict[str, Any]) -> list[str]:
    out = [f"### {s['name']} · {run['kind']}", ""]
    if "error" in run:
        return out + [f"**ERROR**: {run['error']}", ""]
    tr = run["training"]
    stages = "; ".join(f"{name}: {info.get('steps')} steps ({info.get('stop_reason')})"
                       for name, info in tr["stages"].items())
    size, reason = tr.get("size", tr.get("preset")), tr.get("size_reason", tr.get("preset_reason"))  # older reports
    out += [f"Training: model size `{size}` ({reason}), {tr['seconds'] / 60:.1f} min on "
            f"{tr['device']}; {stages}.", ""]
    rows = [r for r in run["vocoders"] if "error" not in r]
    for r in run["vocoders"]:
        if "error" in r:
            out += [f"**ERROR** with the {r['vocoder']} vocoder: {r['error']}", ""]
    if not rows:
        return out
    head = "| measure | " + " | ".join(r["vocoder"] for r in rows) + " |"
    out += [head, "|---|" + "---:|" * len(rows)]

    def line(label: str, cells: list[str]) -> None:
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    line("FD generations → training part", [f"**{_f(r['fd_generated'])}**" for r in rows])
    line("FD held-out real (ceiling)", [_f(refs["fd_held_out"]) for _ in rows])
    line("FD pink noise (floor)", [_f(refs["fd_pink_noise"]) for _ in rows])
    line("FD shuffled 50 ms grains", [_f(refs["fd_shuffled_grains"]) for _ in rows])
    line("FD vocoder alone (random training frames)", [_f(r["fd_vocoder_random_frames"]) for r in rows])
    line("FD model frames shuffled in time", [_f(r["fd_model_frames_shuffled"]) for r in rows])
    line("onset rate, generated / held-out real", [f"{_f(r['onset_rate'])} / {_f(refs['onset_rate_real'])}/s"
                                                   for r in rows])
    line("quiet floor, generated / held-out real", [f"{_f(r['quiet_floor_db'], 1)} / "
                                                    f"{_f(refs['quiet_floor_real_db'], 1)} dB" for r in rows])
    line("novelty (≈0 copy, ≈1 new)", [_f(r["novelty"]) for r in rows])
    line("level (median RMS) vs set", [f"{_f(r['generated_level_db'], 1)} / {_f(refs['set_level_db'], 1)} dBFS"
                                       for r in rows])
    line("hygiene failures", [f"{r['hygiene_failures']} of {r['n_generated']}" for r in rows])
    line("generation time (real-time factor)", [f"{r['generation_seconds']:.1f} s ({r['real_time_factor']:.2f})"
                                                for r in rows])
    for name, label in CRITERIA:
        cells = []
        for r in rows:
            c = _criterion(r, name)
            cells.append(f"{_mark(c['passed'])} {c['detail']}" if c else "n/a")
        line(f"*{label}*", cells)
    line("**verdict**", [f"**{'PASS' if r['passed'] else 'MISS'}**" for r in rows])
    out.append("")
    for r in rows:
        bad = [h for h in r["hygiene"] if not h["ok"]]
        if bad:
            out.append(f"Hygiene failures ({r['vocoder']}): " + "; ".join(
                f"{h['file']}: {', '.join(h['failures'])}" for h in bad) + ".")
            out.append("")
    return out


def render_markdown(report: dict[str, Any], changes: str, figure_rel: str) -> str:
    m = report["machine"]
    st = report["settings"]
    out = ["# Sound quality: does sda sound like the user's material?", ""]
    budget_bound = any("time budget" in str(stage.get("stop_reason", ""))
                       for s in report["sets"] for run in s.get("runs", [])
                       for stage in (run.get("training") or {}).get("stages", {}).values())
    short_clips = st["clips"] < 8 or st["clip_seconds"] < 8
    seconds = [run["training"]["seconds"] for s in report["sets"] for run in s.get("runs", []) if run.get("training")]
    if report.get("smoke") and not budget_bound and not short_clips and seconds:
        out += [f"> Budget {st['minutes']:g} min per set and kind (the yardstick's default is 15): no training "
                f"reached it - every model finished its size's steps or stopped early in "
                f"{min(seconds):.0f}-{max(seconds):.0f} s - so a 15 min budget trains the same models.", ""]
    elif report.get("smoke"):
        out += [f"> **Smoke run.** Budget {st['minutes']:g} min per set and kind, {st['clips']} clips x "
                f"{st['clip_seconds']:g} s, sets {', '.join(st['sets'])}, kinds {', '.join(st['kinds'])}: below "
                "the yardstick's defaults (15 min, 8 x 8 s, every set and kind). These numbers check the "
                "machinery, not the bar; rerun `uv run nox -s quality` for the verdict.", ""]
    if not report.get("complete", True):
        done = ", ".join(s["name"] for s in report["sets"]) or "none"
        out += [f"> **Partial.** The run stopped early or is still going; sets measured so far: {done}.", ""]
    out += [f"Made by `{report['command']}`",
            f"on {report['started']} (finished {report['finished']}, UTC).", "",
            f"Machine: {m['cpu_count']} CPUs ({m['torch_threads']} torch threads), torch {m['torch']}, "
            f"Python {m['python']}, {m['platform']}; CUDA available: {m['cuda_available']}.", "",
            f"Settings: training budget {st['minutes']:g} min per set and model kind on `{st['device']}` "
            f"(`TrainOptions(..., size=\"auto\", max_minutes={st['minutes']:g})`, wall time of the whole job, the `sda train` path), "
            f"HiFi-GAN vocoder training {st['vocoder_minutes']:g} min; {st['clips']} clips x "
            f"{st['clip_seconds']:g} s per vocoder through `sda_engine.generate.pipeline.generate_files` (the `sda generate` "
            f"path, default sampling settings); seed {st['seed']}. Regenerate with `uv run nox -s quality` "
            "(pass options after `--`, e.g. `uv run nox -s quality -- --sets drums --kinds rvq`).", "",
            "## What is measured", "",
            "All numbers come from `sda_audio.quality` (no network, no downloaded model):", "",
            "- **FD**: Fréchet distance between Gaussian fits of 0.5 s window embeddings (mean, spread and "
            "frame-to-frame motion of a 40-band log-mel of each clip levelled to -20 dBFS RMS) of a set of "
            "clips and of the training part. Beside the generations: the held-out real files (ceiling), pink "
            "noise (floor), the training files cut into 50 ms grains and shuffled, and two controls that "
            "isolate the model, both vocoded by the same vocoder as the generations: the *vocoder alone* "
            "(log-mel frames of the training files picked at random, as many as a generated clip has) and "
            "the *model frames shuffled in time* (the generation's own log-mel, frames permuted).",
            "- **Onset rate** (strokes per second, spectral flux peaks; pooled over clips) and **quiet floor** "
            "(90th minus 10th percentile of the 10 ms RMS envelope, dB; mean over clips) of the generations "
            "against the held-out real files.",
            "- **Novelty**: mean nearest-neighbour distance of generated windows to training windows over the "
            "same for the held-out real windows (≈0 copying, ≈1 new material from the same world).",
            "- **Hygiene** per generated file: level within 12 dB of the set's median file RMS, DC offset, "
            "clipping, silent fraction at most 25 points above the set's own, energy above 20 kHz.", "",
            "The bar (issue 10): FD of the generations below shuffled grains and below both controls; onset "
            f"rate within x{report['bar']['max_onset_factor']:g} of the held-out real files (a floor of "
            f"{report['bar']['onset_floor']:g}/s is added to both rates); quiet floor within "
            f"{report['bar']['max_quiet_floor_gap_db']:g} dB; novelty {report['bar']['novelty_range'][0]:g} .. "
            f"{report['bar']['novelty_range'][1]:g}; no hygiene failures.", ""]
    if report["sets"]:
        out += _summary(report)
    else:
        out += ["No set was available: nothing was measured.", ""]
    for s in report["sets"]:
        out += _set_section(s, report, figure_rel)
    out += [CHANGES_HEADING, "", changes.rstrip("\n"), ""]
    return "\n".join(out)


def _clean(obj: Any) -> Any:
    """JSON-safe: non-finite floats become ``None``, numpy scalars and paths plain values."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def write_report(report: dict[str, Any], out: Path, figure_dir: Path) -> None:
    """Write ``out`` (markdown, keeping its changes section) and ``figure_dir/results.json`` atomically."""
    existing = out.read_text(encoding="utf-8") if out.is_file() else None
    figure_dir.mkdir(parents=True, exist_ok=True)
    try:
        figure_rel = figure_dir.relative_to(out.parent).as_posix()
    except ValueError:
        figure_rel = figure_dir.as_posix()
    atomic_write_json(figure_dir / "results.json", _clean(report))
    atomic_write_text(out, render_markdown(report, preserved_changes(existing), figure_rel))
    for path in (out, figure_dir / "results.json"):
        path.chmod(0o644)  # atomic temp files are private; these are documentation
