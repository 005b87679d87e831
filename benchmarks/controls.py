"""The musical-controls table of docs/controls.md (issue 15): fit, sweep, re-measure, draw.

For each model of the library (``SDA_HOME``) named on the command line:

1. ``--fit``: fit its controls on its training recordings (``--data``) and store them in the model file;
2. sweep every control over 7 positions x 3 seeds through :class:`sda_engine.generate.session.ModelSession`
   three times: ``latent`` (every control realised by its latent direction; density is always steered by the
   engine), ``searched`` (every control by the search through the decoder, :mod:`sda_control.search`) and
   ``auto`` (as fitted: searched or latent where the decoder check passed, else the labelled assist), timing
   each (the searched column's cost against the plain generations of the latent column is reported);
3. render the -1 / +1 pair of every control (``auto``, seed 0) as a spectrogram figure.

Results go to ``docs/controls/<model>.json`` and ``docs/controls/<model>.png``; the table in
docs/controls.md (between its ``controls-table`` markers) is rebuilt from every JSON there.

    SDA_HOME=~/sda uv run python benchmarks/controls.py drums --data ../shared/datasets/drums --fit
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _spectrograms import Panel, render_figure  # noqa: E402

from sda_audio.atomic import atomic_write_json, atomic_write_text  # noqa: E402

log = logging.getLogger("benchmarks.controls")
OUT = ROOT / "docs" / "controls"
DOC = ROOT / "docs" / "controls.md"
START, END = "<!-- controls-table:start -->", "<!-- controls-table:end -->"
MODES = ("latent", "searched", "auto")
MODEL_REALISED = ("searched", "latent", "steered")
"""Realisations that count as the model moving itself (issue 28's target), not an effect after it."""


def fit(model: str, data: Path) -> dict[str, Any]:
    from sda_audio.files import list_audio_files
    from sda_control.fit import attach_controls, fit_controls
    from sda_engine.store.library import ModelLibrary
    from sda_models.model_file import load_model, save_model

    library = ModelLibrary()
    path = Path(library.resolve(model))
    bundle = load_model(path, device="cpu")
    t0 = time.perf_counter()
    tensors, config, report = fit_controls(bundle, [Path(p) for p in list_audio_files(data)])
    seconds = time.perf_counter() - t0
    attach_controls(bundle, tensors, config)
    tmp = path.with_name(f".{path.stem}.controls.tmp")  # the library knows .*.tmp as temporary
    try:
        save_model(tmp, bundle)
        library.update_model(model, tmp, move=True)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("fitted %s in %.0f s\n%s", model, seconds, report.to_text())
    return {**report.to_dict(), "seconds": seconds}


def evaluate(model: str, duration: float, seeds: int, positions: int, vocoder: str) -> dict[str, Any]:
    from sda_control.control_map import CONTROL_NAMES, ControlMap
    from sda_control.evaluate import evaluate_controls
    from sda_engine.generate.control_sweeps import session_render_fn
    from sda_engine.generate.session import ModelSession

    out: dict[str, Any] = {}
    shared: dict[Any, Any] = {}
    for mode in MODES:
        session = ModelSession.open(model, device="cpu")
        cmap = ControlMap.from_bundle(session.bundle)
        if cmap is None:
            raise SystemExit(f"{model} has no fitted controls: run with --fit")
        render = session_render_fn(session, duration, mode, vocoder, shared)
        t0 = time.perf_counter()
        report = evaluate_controls(render, CONTROL_NAMES, positions, tuple(range(seeds)), cmap.descriptor_std())
        viewed = ControlMap.from_bundle(session.bundle)  # the mode's view (session_render_fn swapped the bundle)
        assert viewed is not None
        realised = viewed.realisation(dict.fromkeys(CONTROL_NAMES, 1.0))
        realised["density"] = "steered"  # the engine steers density itself (request.control, not the map)
        out[mode] = {**report.to_dict(), "realisation": realised, "seconds": time.perf_counter() - t0}
        log.info("%s %s: %s", model, mode, {k: (round(v.rho, 2), round(v.effect, 2), round(v.crosstalk, 2))
                                            for k, v in report.scores.items()})
        if mode == "auto":
            rows = []
            for name in CONTROL_NAMES:
                pair = [Panel(f"{name} {v:+.0f} ({realised[name]})", render({name: v}, 0)) for v in (-1.0, 1.0)]
                rows.append((name, pair))
            render_figure(rows, OUT / f"{model}.png", max_seconds=duration,
                          title=f"{model}: each control at -1 (left) and +1 (right), seed 0")
        out["vocoder"] = session.vocoder(vocoder)[1]
        out["kind"] = session.kind
    return out


def _cell(score: dict[str, Any]) -> str:
    mark = "**" if score["passes"] else ""
    return f"{mark}{score['rho']:+.2f} / {score['effect']:+.1f} / {score['crosstalk']:.2f}{mark}"


def table() -> str:
    """The markdown table of every result in docs/controls/ (results without a searched sweep show "-")."""
    lines = ["| model | control | latent only: rho / effect / cross-talk | searched only | as fitted "
             "| realised as | decoder check (effect, cross-talk) |", "|---|---|---|---|---|---|---|"]
    from sda_control.control_map import CONTROL_NAMES

    for path in sorted(OUT.glob("*.json")):
        res = json.loads(path.read_text())
        if "latent" not in res or "auto" not in res:  # another benchmark's results (e.g. oneshot_controls.py)
            continue
        fitted = res.get("fit") or {}
        searched = res.get("searched")
        for name in CONTROL_NAMES:
            score, auto = res["latent"]["controls"][name], res["auto"]["controls"][name]
            found = _cell(searched["controls"][name]) if searched else "-"
            check = (fitted.get("check") or {}).get(name, {})
            lines.append(f"| {path.stem} ({res['kind']}) | {name} | {_cell(score)} | {found} | {_cell(auto)} | "
                         f"{res['auto']['realisation'][name]} | "
                         f"{float(check.get('effect', 0.0)):+.2f}, {float(check.get('crosstalk', 0.0)):.2f} |")
        counts = [str(sum(res[m]["controls"][n]["passes"] for n in CONTROL_NAMES)) + " of 8" if m in res else "-"
                  for m in MODES]
        by_model = sum(res["auto"]["controls"][n]["passes"] and res["auto"]["realisation"][n] in MODEL_REALISED
                       for n in CONTROL_NAMES)
        lines.append(f"| {path.stem} | **meets all targets** | {counts[0]} | {counts[1]} | {counts[2]} "
                     f"({by_model} realised by the model) | | |")
        if searched and "seconds" in searched and "seconds" in res["latent"]:
            lines.append(f"| {path.stem} | sweep time | {res['latent']['seconds']:.0f} s | "
                         f"{searched['seconds']:.0f} s ({searched['seconds'] / res['latent']['seconds']:.1f}x) "
                         f"| {res['auto']['seconds']:.0f} s | | |")
    return "\n".join(lines)


def write_doc() -> None:
    text = DOC.read_text() if DOC.is_file() else f"# Musical controls\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    atomic_write_text(DOC, f"{head}{START}\n{table()}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="library model names")
    parser.add_argument("--data", type=Path, action="append", default=[],
                        help="training folder per model (same order), needed with --fit")
    parser.add_argument("--fit", action="store_true", help="fit the controls first")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--positions", type=int, default=7)
    parser.add_argument("--vocoder", default="auto")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table in docs/controls.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        for i, model in enumerate(args.models):
            result: dict[str, Any] = {"model": model, "duration": args.duration}
            if args.fit:
                result["fit"] = fit(model, args.data[i])
            else:
                from sda_engine.store.library import ModelLibrary
                from sda_models.model_file import read_metadata

                config = (read_metadata(ModelLibrary().resolve(model)).get("configs") or {}).get("control") or {}
                result["fit"] = {"check": config.get("check"), "realisation": config.get("realisation"),
                                 "notes": config.get("notes")}
            result.update(evaluate(model, args.duration, args.seeds, args.positions, args.vocoder))
            atomic_write_json(OUT / f"{model}.json", result)
            write_doc()
    write_doc()


if __name__ == "__main__":
    main()
