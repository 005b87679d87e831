"""Spectrogram figures for docs/quality.md: generations beside real files of the same set.

One figure per set: a row of real (held-out) files, then one row per model kind x vocoder with its first
generations. Each panel is a 128-band mel spectrogram (Slaney scale, 20 Hz .. 22 kHz) in dB relative to
the panel's own peak (floored at -80 dB), so level differences do not hide the shape.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchaudio

from sda_audio.atomic import atomic_path

log = logging.getLogger("benchmarks.spectrograms")

SAMPLE_RATE = 44100
N_MELS = 128
FLOOR_DB = 80.0


def _slaney_mel(hz: float) -> float:
    """Hz to the Slaney mel scale (linear below 1 kHz, logarithmic above)."""
    if hz < 1000.0:
        return 3.0 * hz / 200.0
    return 15.0 + 27.0 * np.log(hz / 1000.0) / np.log(6.4)


def mel_bin(hz: float, f_min: float = 20.0, f_max: float = SAMPLE_RATE / 2) -> float:
    """The (fractional) mel band whose centre is at ``hz``, for the figure's frequency ticks."""
    lo, hi = _slaney_mel(f_min), _slaney_mel(f_max)
    return (_slaney_mel(hz) - lo) / (hi - lo) * (N_MELS + 1) - 1.0


TICKS_HZ = ((100.0, "100"), (1000.0, "1k"), (5000.0, "5k"), (20000.0, "20k"))


@dataclass(frozen=True)
class Panel:
    """One spectrogram panel: a title and mono audio ``(T,)`` at ``sample_rate``."""

    title: str
    audio: np.ndarray
    sample_rate: int = SAMPLE_RATE


def mel_db(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None) -> np.ndarray:
    """Mel power in dB relative to the clip's peak, floored at -80 dB: ``(128, frames)``."""
    x = torch.from_numpy(np.asarray(audio, dtype=np.float32).reshape(-1))
    if sample_rate != SAMPLE_RATE:
        x = torchaudio.functional.resample(x, sample_rate, SAMPLE_RATE)
    if max_seconds is not None:
        x = x[: int(max_seconds * SAMPLE_RATE)]
    if x.numel() < 2048:
        x = torch.nn.functional.pad(x, (0, 2048 - x.numel()))
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=SAMPLE_RATE, n_fft=2048, hop_length=512, n_mels=N_MELS,
                                               f_min=20.0, f_max=SAMPLE_RATE / 2, power=2.0, norm="slaney",
                                               mel_scale="slaney")
    with torch.no_grad():
        power = mel(x).double().numpy()
    db = 10.0 * np.log10(power + 1e-12)
    peak = db.max()
    return np.maximum(db - peak, -FLOOR_DB)


def render_figure(rows: Sequence[tuple[str, Sequence[Panel]]], path: Path, max_seconds: float = 8.0,
                  title: str = "") -> Path:
    """Write a grid of spectrograms (one labelled row per entry of ``rows``) to ``path`` (PNG, atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(label, list(panels)) for label, panels in rows if panels]
    if not rows:
        raise ValueError("no panels to draw")
    n_cols = max(len(panels) for _, panels in rows)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(3.2 * n_cols + 0.8, 2.0 * len(rows) + 0.4),
                             squeeze=False, sharey=True, constrained_layout=True)
    image = None
    for r, (label, panels) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            if c >= len(panels):
                ax.axis("off")
                continue
            panel = panels[c]
            db = mel_db(panel.audio, panel.sample_rate, max_seconds)
            seconds = db.shape[1] * 512 / SAMPLE_RATE
            image = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=-FLOOR_DB, vmax=0.0,
                              extent=(0.0, seconds, 0, N_MELS), interpolation="nearest")
            ax.set_title(panel.title, fontsize=7)
            ax.tick_params(labelsize=6)
            ax.set_yticks([mel_bin(hz) for hz, _ in TICKS_HZ])
            ax.set_yticklabels([text for _, text in TICKS_HZ])
            if c == 0:
                ax.set_ylabel(f"{label}\nHz", fontsize=7)
            if r == len(rows) - 1:
                ax.set_xlabel("seconds", fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.6, pad=0.01)
        bar.set_label("dB re peak", fontsize=7)
        bar.ax.tick_params(labelsize=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    path.chmod(0o644)
    plt.close(fig)
    log.info("wrote %s", path)
    return path
