"""Proof of reconstruction: does a model trained on a set keep each file's attack, partials and decay?

Issue 25 ("Proof: reconstruction first"). For each set (the shared sets ``drums``, ``loops``, ``ambient``, or the
``demo`` data) the files are split 2/3 training, 1/3 held out (``split(files, seed)`` of
benchmarks/reconstruction.py, seed 0). A model is trained on the training part with the default recipe through
the engine (``TrainOptions(kind="rvq", size=..., max_minutes=M, controls=False, device="cpu")``), or an existing
one is reused with ``--model`` (trained on the same split, e.g. by ``benchmarks/learning_curves.py --keep DIR``:
``DIR/SET-SIZE-MINUTES/models/curve-SET-SIZE.sda``). Every held-out and training file is then reconstructed as
``sda reconstruct`` does (:func:`sda_engine.generate.encoding.encode_audio` -> the engine's ``Renderer``: decode,
default vocoder, mono, loudness as decoded; the same functions ``reconstruct_files`` calls, without writing files
or history) and measured against the original (44.1 kHz mono):

- **attack**: :func:`sda_audio.events.detect_events` on both; the original's reference event is its first strong
  event (peak within 10 dB of the loudest), matched to the reconstruction's event nearest in onset time.
  Reported: |onset difference| and |rise-time difference| (``Event.rise``: onset to within 6 dB of the peak) in
  ms; passes when both are within 10 ms. Files without an event (a steady texture) are "n/a".
- **partials**: the long-term average magnitude spectrum (8192-point Hann STFT, hop 1024, over the original's
  sounding part) of both; the original's 5 strongest peaks in 40 Hz - 16 kHz (local maxima at least 3 dB
  prominent, at least a semitone apart, strongest first) each count as kept when one of the reconstruction's
  10 strongest peaks (picked the same way) lies within a semitone. Passes at 4 of 5 or better.
- **decay**: from the reference event's envelope peak to where the 25 ms-smoothed envelope first falls 30 dB
  below it (or to 3 dB above the file's quiet floor, if that is higher), ended at the next onset / the file end
  if it never does; reported as the ratio reconstruction / original; passes within x0.67 .. x1.5.
- **distances**: log-mel L1 (:class:`sda_models.mel.LogMel`, nats) and a multi-resolution STFT distance (mean
  over FFT sizes 512 / 1024 / 2048, hop 1/4, Hann, of log-magnitude L1 + spectral convergence), for the
  reconstruction and for Griffin-Lim (64 iterations) of the TRUE log-mel (``exp`` -> torchaudio
  ``InverseMelScale`` with the same Slaney-scale, Slaney-normalised filterbank -> ``GriffinLim`` at
  ``MelConfig``'s n_fft / hop / window, power 1, shifted by the mel's 256-sample framing offset). The
  Griffin-Lim row is what inverting a perfect mel loses: the vocoder's share, not the model's.

Per set: a table row per file group (held-out / training: medians and the share of files passing each check),
a spectrogram sheet ``docs/quality/recon-<set>.png`` (original | reconstruction | Griffin-Lim of the true mel
for up to 4 files), the raw numbers in ``docs/quality/reconstruction_proof.json`` (replaced per set, so sets
can be run one at a time) and the section "Reconstruction proof" of docs/quality.md (rewritten from the
JSON; the rest of that file is left as it is).

    uv run --no-sync python benchmarks/reconstruction_proof.py --sets drums --quick      # smoke run, ~2 min
    uv run --no-sync python benchmarks/reconstruction_proof.py --sets drums,loops,ambient,demo --size tiny --minutes 10
    uv run --no-sync python benchmarks/reconstruction_proof.py --sets drums \\
        --model KEEP/drums-tiny-10/models/curve-drums-tiny.sda --size tiny --minutes 10
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _doc_sections import replace_section  # noqa: E402
from reconstruction import DATASETS, set_files, split  # noqa: E402  (a sibling benchmark script)

from sda_models.vocoders.floor import mrstft_distance  # noqa: E402  (the vocoder floor's: the same distance)

ROOT = HERE.parent
RESULTS = ROOT / "docs" / "quality" / "reconstruction_proof.json"
DOC = ROOT / "docs" / "quality.md"
HEADING = "## Reconstruction proof (benchmarks/reconstruction_proof.py)"
RATE = 44100

ATTACK_MS = 10.0  # onset and rise kept within this
STRONG_DB = 10.0  # a "strong" event peaks within this of the loudest
N_PARTIALS = 5
PARTIALS_NEEDED = 4  # of N_PARTIALS, to pass
RECON_PEAKS = 10  # the reconstruction's strongest peaks a partial may be matched by
BAND_HZ = (40.0, 16000.0)
SEMITONE = 2.0 ** (1.0 / 12.0)
DECAY_DB = 30.0
DECAY_RATIO = (2.0 / 3.0, 1.5)
GL_ITERS = 64


# -- the data and the model ---------------------------------------------------------------------------------------
def train_model(set_name: str, train: list[Path], size: str, minutes: float, seed: int, work: Path) -> dict[str, Any]:
    """Train an RVQ model on ``train`` with the default recipe; its path, library home and stage summary."""
    from sda_engine.train import TrainOptions, plan, run

    home = work / f"{set_name}-{size}-{minutes:g}"
    name = f"proof-{set_name}-{size}"
    t0 = time.monotonic()
    options = TrainOptions(name=name, dataset=tuple(str(p) for p in train), kind="rvq", size=size,
                           max_minutes=minutes, seed=seed, controls=False, device="cpu")
    result = run(plan(options, home), home=home)
    ae = result.stages.get("autoencoder", {})
    return {"path": home / "models" / f"{name}.sda", "home": home, "trained_here": True,
            "wall_seconds": round(time.monotonic() - t0, 1), "autoencoder_steps": ae.get("steps"),
            "autoencoder_stop": ae.get("stop_reason"), "prior_steps": result.stages.get("prior", {}).get("steps")}


def open_session(model: Path, home: Path | None) -> Any:
    """A CPU session as ``sda reconstruct`` opens it (its library home, for the model's corpus index)."""
    from sda_engine import ModelSession

    if home is None and model.parent.name == "models":  # a model inside a library: DIR/models/NAME.sda
        home = model.parent.parent
    weights = os.environ.get("SDA_BIGVGAN_WEIGHTS", "").strip() or None
    return ModelSession.open(model, "cpu", home=home, bigvgan_weights=weights)


def read_mono(path: Path) -> np.ndarray:
    from sda_audio.io import read_audio

    return np.asarray(read_audio(path, sample_rate=RATE, mono=True).samples[0], dtype=np.float32)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


@torch.no_grad()
def reconstruct(session: Any, wave: np.ndarray) -> tuple[np.ndarray, str]:
    """``wave`` as ``sda reconstruct`` renders it (encode -> decode -> default vocoder, mono, dynamics 0),
    before the export step; and the vocoder's name."""
    from sda_engine.generate.encoding import encode_audio
    from sda_engine.generate.renderer import Renderer
    from sda_engine.generate.request import GenerationRequest

    sketch = encode_audio(session, wave[None], RATE)
    seconds = max(0.1, round(len(wave) / RATE, 3))
    request = GenerationRequest().replace(channels="mono", dynamics=0.0, variations=1, duration=seconds)
    audio = Renderer(session, request).render(sketch)
    if audio.sample_rate != RATE:
        raise RuntimeError(f"rendered at {audio.sample_rate} Hz, expected {RATE}")
    return fit_length(np.asarray(audio.samples[0], dtype=np.float32), len(wave)), audio.vocoder


# -- Griffin-Lim of the true mel ----------------------------------------------------------------------------------
class MelInverter:
    """exp(log-mel) -> least-squares linear magnitude -> Griffin-Lim, with :class:`sda_models.mel.MelConfig`'s
    settings (Slaney scale and norm, magnitude not power), aligned to the mel's framing."""

    def __init__(self) -> None:
        import torchaudio

        from sda_models.mel import LogMel, MelConfig

        cfg = MelConfig()
        self.cfg, self.log_mel = cfg, LogMel(cfg)
        self.inverse = torchaudio.transforms.InverseMelScale(
            n_stft=cfg.n_freqs, n_mels=cfg.num_mels, sample_rate=cfg.sampling_rate, f_min=float(cfg.fmin),
            f_max=cfg.f_max, norm="slaney", mel_scale="slaney")
        if not torch.allclose(self.inverse.fb.T.float(), self.log_mel.mel_basis, atol=1e-6):
            raise RuntimeError("InverseMelScale's filterbank differs from LogMel's")
        self.griffin_lim = torchaudio.transforms.GriffinLim(
            n_fft=cfg.n_fft, n_iter=GL_ITERS, win_length=cfg.win_length, hop_length=cfg.hop_length, power=1.0,
            rand_init=False)

    @torch.no_grad()
    def __call__(self, wave: np.ndarray) -> np.ndarray:
        torch.manual_seed(0)
        mel = torch.exp(self.log_mel(torch.from_numpy(wave)[None]))  # (1, 128, frames), magnitude
        magnitude = self.inverse(mel).clamp_min(0.0)
        audio = self.griffin_lim(magnitude)[0].numpy()
        # LogMel's frame k is centred on sample k*hop + (n_fft/2 - padding); GriffinLim's (center=True) on k*hop
        shift = self.cfg.n_fft // 2 - self.cfg.padding
        return fit_length(np.concatenate([np.zeros(shift, dtype=np.float32), audio.astype(np.float32)]), len(wave))


# -- the measures -------------------------------------------------------------------------------------------------
def reference_event(events: Any) -> Any | None:
    """The first event peaking within ``STRONG_DB`` of the loudest, or ``None`` (no events)."""
    return next((e for e in events.events if e.accent >= -STRONG_DB), None)


def nearest_event(events: Any, onset: float) -> Any | None:
    return min(events.events, key=lambda e: abs(e.onset - onset), default=None)


def decay_seconds(events: Any, event: Any) -> float:
    """Reference peak to 30 dB below it (or 3 dB above the quiet floor, if higher) on the smoothed envelope;
    ended at the next onset or the file end when it never gets there."""
    from scipy.ndimage import uniform_filter1d

    env, rate = events.envelope_db, events.frame_rate
    smooth = 10.0 * np.log10(np.maximum(uniform_filter1d(10.0 ** (env / 10.0), max(1, round(0.025 * rate)),
                                                         mode="nearest"), 1e-30))
    peak = round(event.peak * rate)
    later = [e.onset for e in events.events if e.onset > event.peak]
    stop = min(len(env), round(later[0] * rate)) if later else len(env)
    threshold = max(float(env[peak]) - DECAY_DB, events.floor_db + 3.0)
    below = np.nonzero(smooth[peak:stop] <= threshold)[0]
    return float((below[0] if len(below) else max(stop - peak, 0)) / rate)


def envelope_measures(original: np.ndarray, other: np.ndarray) -> dict[str, Any]:
    """Attack (onset and rise differences, ms) and decay (ratio) of ``other`` against ``original``."""
    from sda_audio.events import detect_events

    ev_o, ev_r = detect_events(original, RATE), detect_events(other, RATE)
    ref = reference_event(ev_o)
    if ref is None:
        return {"onset_ms": None, "rise_ms": None, "attack_pass": None, "decay_o": None, "decay_r": None,
                "decay_ratio": None, "decay_pass": None}
    match = nearest_event(ev_r, ref.onset)
    if match is None:
        return {"onset_ms": None, "rise_ms": None, "attack_pass": False, "decay_o": decay_seconds(ev_o, ref),
                "decay_r": None, "decay_ratio": None, "decay_pass": False}
    onset_ms, rise_ms = abs(match.onset - ref.onset) * 1e3, abs(match.rise - ref.rise) * 1e3
    d_o, d_r = decay_seconds(ev_o, ref), decay_seconds(ev_r, match)
    ratio = d_r / d_o if d_o > 0 else (1.0 if d_r == 0 else math.inf)
    return {"onset_ms": round(onset_ms, 1), "rise_ms": round(rise_ms, 1),
            "attack_pass": bool(onset_ms <= ATTACK_MS and rise_ms <= ATTACK_MS), "decay_o": round(d_o, 3),
            "decay_r": round(d_r, 3), "decay_ratio": round(ratio, 3),
            "decay_pass": bool(DECAY_RATIO[0] <= ratio <= DECAY_RATIO[1])}


def average_spectrum_db(wave: np.ndarray, span: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, dB) of the mean magnitude spectrum over ``span`` seconds (8192-point Hann, hop 1024)."""
    n_fft, hop = 8192, 1024
    lo, hi = int(span[0] * RATE), max(int(span[1] * RATE), int(span[0] * RATE) + 1)
    x = torch.from_numpy(wave[lo:hi].astype(np.float32))
    if x.numel() < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.numel()))
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), center=False, return_complex=True).abs()
    mean = spec.mean(dim=-1).double().numpy()
    return np.fft.rfftfreq(n_fft, 1.0 / RATE), 20.0 * np.log10(mean + 1e-9)


def strongest_peaks(freqs: np.ndarray, db: np.ndarray, count: int) -> list[float]:
    """Up to ``count`` peak frequencies in ``BAND_HZ``, strongest first, at least 3 dB prominent and a semitone
    apart."""
    from scipy.signal import find_peaks

    band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    idx, _ = find_peaks(np.where(band, db, db.min()), prominence=3.0)
    chosen: list[float] = []
    for i in sorted(idx[band[idx]], key=lambda i: -db[i]):
        f = float(freqs[i])
        if all(max(f, g) / min(f, g) >= SEMITONE for g in chosen):
            chosen.append(f)
        if len(chosen) == count:
            break
    return chosen


def partials_kept(original: np.ndarray, other: np.ndarray, span: tuple[float, float]) -> tuple[int, int]:
    """(kept, found): the original's strongest peaks matched within a semitone by one of ``other``'s."""
    peaks_o = strongest_peaks(*average_spectrum_db(original, span), N_PARTIALS)
    peaks_r = strongest_peaks(*average_spectrum_db(other, span), RECON_PEAKS)
    kept = sum(any(max(f, g) / min(f, g) < SEMITONE for g in peaks_r) for f in peaks_o)
    return kept, len(peaks_o)


def mel_l1(log_mel: Any, a: np.ndarray, b: np.ndarray) -> float:
    with torch.no_grad():
        return float((log_mel(torch.from_numpy(a)[None]) - log_mel(torch.from_numpy(b)[None])).abs().mean())


@dataclass
class FileResult:
    """Every number measured on one file (``None``: the check does not apply)."""

    file: str
    group: str
    seconds: float
    onset_ms: float | None
    rise_ms: float | None
    attack_pass: bool | None
    partials_kept: int
    partials_found: int
    partials_pass: bool
    decay_o: float | None
    decay_r: float | None
    decay_ratio: float | None
    decay_pass: bool | None
    mel_l1: float
    mrstft: float
    gl_mel_l1: float
    gl_mrstft: float
    gl_partials_kept: int
    gl_attack_pass: bool | None


def measure_file(path: Path, group: str, original: np.ndarray, recon: np.ndarray, griffin: np.ndarray,
                 log_mel: Any) -> FileResult:
    from sda_audio.events import detect_events

    ev = detect_events(original, RATE)
    span = (ev.sound_start, max(ev.sound_end, ev.sound_start + 0.1)) if ev.events or ev.sound_end > 0 \
        else (0.0, len(original) / RATE)
    env = envelope_measures(original, recon)
    kept, found = partials_kept(original, recon, span)
    gl_kept, _ = partials_kept(original, griffin, span)
    return FileResult(
        file=path.name, group=group, seconds=round(len(original) / RATE, 3), partials_kept=kept,
        partials_found=found, partials_pass=kept >= min(PARTIALS_NEEDED, found), **env,
        mel_l1=round(mel_l1(log_mel, original, recon), 4), mrstft=round(mrstft_distance(recon, original), 4),
        gl_mel_l1=round(mel_l1(log_mel, original, griffin), 4), gl_mrstft=round(mrstft_distance(griffin, original), 4),
        gl_partials_kept=gl_kept, gl_attack_pass=envelope_measures(original, griffin)["attack_pass"])


# -- summary, figure, files ---------------------------------------------------------------------------------------
def _median(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return round(statistics.median(kept), 3) if kept else None


def _share(values: list[bool | None]) -> str:
    kept = [v for v in values if v is not None]
    return f"{sum(kept)}/{len(kept)}" if kept else "n/a"


def summarise(files: list[FileResult]) -> dict[str, Any]:
    """Medians and pass shares per group."""
    out = {}
    for group in ("held-out", "training"):
        rows = [f for f in files if f.group == group]
        if not rows:
            continue
        out[group] = {
            "files": len(rows),
            "onset_ms": _median([f.onset_ms for f in rows]), "rise_ms": _median([f.rise_ms for f in rows]),
            "attack_pass": _share([f.attack_pass for f in rows]),
            "partials_kept": _median([float(f.partials_kept) for f in rows]),
            "partials_pass": _share([f.partials_pass for f in rows]),
            "decay_ratio": _median([f.decay_ratio for f in rows]), "decay_pass": _share([f.decay_pass for f in rows]),
            "mel_l1": _median([f.mel_l1 for f in rows]), "mrstft": _median([f.mrstft for f in rows]),
            "gl_mel_l1": _median([f.gl_mel_l1 for f in rows]), "gl_mrstft": _median([f.gl_mrstft for f in rows]),
            "gl_partials_kept": _median([float(f.gl_partials_kept) for f in rows]),
            "gl_attack_pass": _share([f.gl_attack_pass for f in rows]),
        }
    return out


def draw_sheet(set_name: str, picks: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> Path:
    from _spectrograms import Panel, render_figure

    rows = [("original", [Panel(title, o) for title, o, _, _ in picks]),
            ("reconstruction", [Panel(title, r) for title, _, r, _ in picks]),
            ("Griffin-Lim of true mel", [Panel(title, g) for title, _, _, g in picks])]
    return render_figure(rows, ROOT / "docs" / "quality" / f"recon-{set_name}.png",
                         title=f"{set_name}: original | reconstruction | Griffin-Lim of the true mel")


def load_results() -> dict[str, Any]:
    return json.loads(RESULTS.read_text())["sets"] if RESULTS.is_file() else {}


def save_results(sets: dict[str, Any]) -> None:
    from sda_audio.atomic import atomic_write_json

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS, {"about": __doc__.split("\n\n")[0], "sets": sets})


def _cell(value: Any, fmt: str = "{:.2f}") -> str:
    return "–" if value is None else fmt.format(value)


def markdown(sets: dict[str, Any]) -> str:
    """The docs/quality.md section, from every set in the JSON."""
    lines = [HEADING, "",
             "Each file of a set through encode -> decode -> the default vocoder (as `sda reconstruct`, mono, loudness "
             "as decoded), against the original; the model trained on the 2/3 training split (seed 0), so "
             "\"held-out\" files were never seen. Checks: **attack** = first strong event's onset and rise time both "
             f"within {ATTACK_MS:g} ms; **partials** = of the original's {N_PARTIALS} strongest spectral peaks "
             f"(40 Hz-16 kHz) at least {PARTIALS_NEEDED} matched within a semitone; **decay** = peak to -{DECAY_DB:g} dB "
             f"(or the quiet floor) within x{DECAY_RATIO[0]:.2f}..x{DECAY_RATIO[1]:.1f}. Shares are passing/measured "
             "files (a texture without events has no attack or decay). Distances are medians: log-mel L1 (nats) "
             "and multi-resolution STFT (log-magnitude L1 + spectral convergence, 512/1024/2048); the "
             "*Griffin-Lim* columns invert the TRUE mel, i.e. what the mel + a phase-free vocoder alone lose. "
             "Rerun: `uv run --no-sync python benchmarks/reconstruction_proof.py --sets SET [--model PATH.sda]` "
             "(module docstring).", "",
             "| set | model | group | files | onset Δ ms | rise Δ ms | attack pass | partials kept (of 5) | "
             "partials pass | decay ratio | decay pass | mel L1 | MR-STFT | GL mel L1 | GL MR-STFT | "
             "GL partials | GL attack pass |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, entry in sets.items():
        m = entry["model"]
        label = f"{m['kind']} {m['size']} {m['minutes']:g} min, {m.get('autoencoder_steps') or '?'} AE steps, " \
                f"{entry['vocoder']}" + (" (quick)" if entry.get("quick") else "")
        for group, s in entry["summary"].items():
            lines.append(
                f"| {name} | {label} | {group} | {s['files']} | {_cell(s['onset_ms'], '{:.1f}')} | "
                f"{_cell(s['rise_ms'], '{:.1f}')} | {s['attack_pass']} | {_cell(s['partials_kept'], '{:g}')} | "
                f"{s['partials_pass']} | {_cell(s['decay_ratio'])} | {s['decay_pass']} | {_cell(s['mel_l1'], '{:.3f}')} | "
                f"{_cell(s['mrstft'])} | {_cell(s['gl_mel_l1'], '{:.3f}')} | {_cell(s['gl_mrstft'])} | "
                f"{_cell(s['gl_partials_kept'], '{:g}')} | {s['gl_attack_pass']} |")
    lines.append("")
    for name in sets:
        lines.append(f"![{name}: original | reconstruction | Griffin-Lim of the true mel](quality/recon-{name}.png)")
        lines.append("")
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace (or append) the section under ``HEADING`` in docs/quality.md, up to the next ``## `` heading."""
    replace_section(DOC, HEADING, text)


# -- one set ------------------------------------------------------------------------------------------------------
def prove_set(set_name: str, args: argparse.Namespace, work: Path) -> dict[str, Any] | None:
    from sda_models.mel import LogMel

    files = set_files(set_name, work)
    if len(files) < 3:
        print(f"[skip] {set_name}: {len(files)} files in {DATASETS / set_name}")
        return None
    train, held = split(files, args.seed)
    minutes = 0.5 if args.quick else args.minutes
    if args.model:
        model = {"path": Path(args.model).expanduser().resolve(), "home": None, "trained_here": False}
    else:
        print(f"[{set_name}] training {args.size} rvq for {minutes:g} min on {len(train)} files", flush=True)
        model = train_model(set_name, train, args.size, minutes, args.seed, work)
    session = open_session(model["path"], model["home"])
    groups = [("held-out", held), ("training", train)]
    if args.quick:
        groups = [(g, paths[:2]) for g, paths in groups]
    inverter, log_mel = MelInverter(), LogMel()
    results: list[FileResult] = []
    picks: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    vocoder = "?"
    for group, paths in groups:
        for i, path in enumerate(paths):
            original = read_mono(path)
            if len(original) < 4096:
                original = np.pad(original, (0, 4096 - len(original)))
            recon, vocoder = reconstruct(session, original)
            griffin = inverter(original)
            results.append(measure_file(path, group, original, recon, griffin, log_mel))
            print(f"[{set_name}] {group} {path.name}: {asdict(results[-1])}", flush=True)
            if i < 2:
                picks.append((f"{group}: {path.name}", original, recon, griffin))
    sheet = draw_sheet(set_name, picks)
    print(f"[{set_name}] wrote {sheet}")
    info = {k: (str(v) if isinstance(v, Path) else v) for k, v in model.items() if k != "home"}
    if info.get("autoencoder_steps") is None:  # a given model: its file records how it was trained
        from sda_models.model_file import read_metadata

        info["autoencoder_steps"] = (read_metadata(model["path"]).get("metrics") or {}).get("autoencoder_steps")
    return {"model": {**info, "kind": "rvq", "size": args.size, "minutes": minutes}, "vocoder": vocoder,
            "quick": args.quick, "seed": args.seed, "split": {"train": len(train), "held_out": len(held)},
            "summary": summarise(results), "files": [asdict(r) for r in results],
            "machine": f"{os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads",
            "date": datetime.now(UTC).isoformat()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="drums,loops,ambient,demo")
    parser.add_argument("--size", default="tiny", choices=("tiny", "small"))
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per model (wall minutes)")
    parser.add_argument("--model", default=None, help="reuse this .sda (trained on the same split; one set only)")
    parser.add_argument("--quick", action="store_true", help="a 0.5-minute model, 2 files per group (smoke run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    names = [s for s in args.sets.split(",") if s]
    if args.model and len(names) != 1:
        parser.error("--model needs exactly one set")
    torch.set_num_threads(args.threads)
    stored = load_results()
    with tempfile.TemporaryDirectory(prefix="sda-proof-") as tmp:
        for name in names:
            entry = prove_set(name, args, Path(tmp))
            if entry is None:
                continue
            stored[name] = entry
            save_results(stored)
            write_section(markdown(stored))
    print(markdown(stored))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
