"""Two synthetic one-shot sets for the forms benchmark (benchmarks/forms.py), written deterministically.

- ``plucks``: the demo's pluck voice (:func:`sda_audio.demo._pluck`, a damped string of 24 partials) as 16 single
  plucks from A2 to A4, some muted (an extra exponential damping: shorter), every third one in a short
  synthetic room (longer); 0.6-1.5 s of sound (:func:`sda_audio.synth.in_room`).
- ``synth-hits``: 16 one-shots of sda's own synthesis (:mod:`sda_audio.synth`): FM bells and metal hits (index
  decaying), noise-band hats and snares with exponential decays, kicks (low sines with a pitch drop) and
  Karplus-Strong plucks; pitch, colour and length vary.

Every file is one event with a decay, 44.1 kHz mono 24-bit WAV, peak -3 dBFS, with a faint recording floor (white
noise tilted down ~3 dB/octave, 72-66 dB under the peak) so the set has a room tone like a real recording instead of
digital silence. Each file is detected as ``oneshot`` by :func:`sda_audio.forms.detect_file_form` (checked when
written; :func:`write_set` raises otherwise). The same seed always gives the same files.

    uv run --no-sync python benchmarks/_oneshot_sets.py OUT_DIR [--sets plucks,synth-hits]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from sda_audio import synth
from sda_audio.demo import _pluck  # pyright: ignore[reportPrivateUsage]

SR = 44100
SETS = ("plucks", "synth-hits")
SEEDS = {"plucks": 2601, "synth-hits": 2602}


def _floor(rng: np.random.Generator, n: int, level_db: float) -> np.ndarray:
    """A faint recording floor: white noise tilted down ~3 dB/octave, RMS ``level_db`` re a 1.0 peak."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / SR)
    tilted = np.fft.irfft(spectrum / np.sqrt(np.maximum(freqs, 50.0) / 50.0), n)
    return tilted / (np.std(tilted) + 1e-12) * 10 ** (level_db / 20)


def _finish(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Trim the tail at -70 dB, fade, peak to -3 dBFS, a 20 ms lead-in and 150 ms of room after, plus the floor."""
    x = synth.trim_tail(synth.fade(x, fade_in=0.001, fade_out=0.03), floor_db=-70.0, hold=0.02)
    x = synth.normalise_peak(x, -3.0)
    x = np.concatenate([np.zeros(int(0.02 * SR)), x, np.zeros(int(0.15 * SR))])
    peak = float(np.max(np.abs(x)))
    return x + _floor(rng, x.size, rng.uniform(-72.0, -66.0)) * peak


def _pluck_set(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    out = []
    semitones = np.linspace(0, 24, 16).round().astype(int)  # A2 (110 Hz) .. A4 (440 Hz)
    rng.shuffle(semitones)
    for i, st in enumerate(semitones):
        f0 = 110.0 * 2 ** (st / 12)
        t = synth.times(1.5)
        x = _pluck(f0, t, rng) * np.exp(-t * float(rng.uniform(0.0, 5.0)))  # some strings muted (shorter)
        room = i % 3 == 2
        if room:
            x = synth.in_room(rng, x, rt60=float(rng.uniform(0.5, 1.2)), wet=float(rng.uniform(0.2, 0.35)))
        out.append((f"pluck_{i:02d}_{round(f0)}hz{'_room' if room else ''}", x))
    return out


def _bell(rng: np.random.Generator) -> np.ndarray:
    seconds = float(rng.uniform(0.8, 1.6))
    t = synth.times(seconds)
    carrier = float(rng.uniform(300.0, 1200.0))
    x = synth.fm_tone(t, carrier, ratio=float(rng.choice([1.4, 2.76, 3.5])), index=float(rng.uniform(3, 7)),
                      index_decay=float(rng.uniform(0.08, 0.3)))
    return x * np.exp(-t / (seconds / 5.0))


def _metal(rng: np.random.Generator) -> np.ndarray:
    seconds = float(rng.uniform(0.4, 0.9))
    t = synth.times(seconds)
    x = synth.fm_tone(t, float(rng.uniform(500.0, 900.0)), ratio=float(rng.uniform(1.9, 2.3)),
                      index=float(rng.uniform(8, 14)), index_decay=float(rng.uniform(0.05, 0.15)),
                      feedback_ratio=float(rng.uniform(3.1, 4.3)))
    return x * np.exp(-t / (seconds / 6.0))


def _hat(rng: np.random.Generator) -> np.ndarray:
    seconds = float(rng.uniform(0.15, 0.5))
    t = synth.times(seconds)
    x = synth.noise_band(rng, t.size, float(rng.uniform(5000.0, 8000.0)), float(rng.uniform(14000.0, 19000.0)))
    return x * np.exp(-t / (seconds / 7.0))


def _snare(rng: np.random.Generator) -> np.ndarray:
    seconds = float(rng.uniform(0.25, 0.5))
    t = synth.times(seconds)
    rattle = synth.noise_band(rng, t.size, float(rng.uniform(800.0, 1500.0)), float(rng.uniform(7000.0, 11000.0)))
    rattle /= np.std(rattle) + 1e-12
    body = np.sin(synth.TAU * float(rng.uniform(160.0, 240.0)) * t)
    return 0.5 * rattle * np.exp(-t / (seconds / 6.0)) + body * np.exp(-t / 0.04)


def _kick(rng: np.random.Generator) -> np.ndarray:
    seconds = float(rng.uniform(0.35, 0.8))
    t = synth.times(seconds)
    f_end, f_start = float(rng.uniform(40.0, 60.0)), float(rng.uniform(120.0, 200.0))
    freq = f_end + (f_start - f_end) * np.exp(-t / float(rng.uniform(0.02, 0.05)))
    phase = synth.TAU * np.cumsum(freq) / SR
    body = (np.sin(phase) + 0.25 * np.sin(2 * phase)) * np.exp(-t / (seconds / 5.0))
    click = synth.noise_band(rng, t.size, 1500.0, 8000.0) * np.exp(-t / 0.004)
    return body + 0.3 * click / (np.std(click[:200]) + 1e-12)


def _string(rng: np.random.Generator) -> np.ndarray:
    seconds = float(rng.uniform(0.6, 1.4))
    x = synth.karplus_strong(rng, float(rng.uniform(150.0, 600.0)), seconds, decay=float(rng.uniform(0.985, 0.994)),
                             brightness=float(rng.uniform(0.5, 0.9)))
    return x * np.exp(-synth.times(seconds)[: x.size] / (seconds / 4.0))


_HITS: tuple[tuple[str, Callable[[np.random.Generator], np.ndarray]], ...] = (
    ("bell", _bell), ("metal", _metal), ("hat", _hat), ("snare", _snare), ("kick", _kick), ("string", _string))


def _hit_set(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    kinds = [_HITS[i % len(_HITS)] for i in range(16)]
    return [(f"hit_{i:02d}_{name}", make(rng)) for i, (name, make) in enumerate(kinds)]


def render_set(name: str, seed: int | None = None) -> list[tuple[str, np.ndarray]]:
    """The set's files as ``(stem, mono float64 samples at 44.1 kHz)``, finished (trimmed, levelled, floored)."""
    if name not in SETS:
        raise ValueError(f"unknown one-shot set {name!r}; known: {', '.join(SETS)}")
    rng = np.random.default_rng(SEEDS[name] if seed is None else seed)
    raw = _pluck_set(rng) if name == "plucks" else _hit_set(rng)
    return [(stem, _finish(rng, x)) for stem, x in raw]


def write_set(name: str, folder: str | Path, seed: int | None = None, check: bool = True) -> list[Path]:
    """Write set ``name`` into ``folder`` (created) as 24-bit WAV files; with ``check``, every file must be
    detected as ``oneshot`` (``ValueError`` names the ones that are not). Returns the paths."""
    from sda_audio.forms import detect_file_form

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, x in render_set(name, seed):
        path = folder / f"{stem}.wav"
        sf.write(path, x.astype(np.float32), SR, subtype="PCM_24")
        paths.append(path)
    if check:
        wrong = [(p.name, f.form) for p in paths if (f := detect_file_form(p)).form != "oneshot"]
        if wrong:
            raise ValueError(f"{name}: not detected as one-shots: {wrong}")
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--sets", default=",".join(SETS))
    args = parser.parse_args(argv)
    for name in args.sets.split(","):
        paths = write_set(name, args.out / name)
        print(f"{name}: {len(paths)} one-shots in {args.out / name}")


if __name__ == "__main__":
    main()
