"""Pictures (PNG, matplotlib, imported only when a picture is asked for): the grid, codebook usage, and
log-mel spectrograms side by side."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from sda_audio.atomic import atomic_path
from sda_audio.errors import SdaError
from sda_control.codes.grid import CodeGrid, level_labels

STATUS_COLOURS = {"green": "#2e9d4f", "yellow": "#d9a300", "red": "#c8322d"}


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SdaError("pictures need matplotlib, which is not installed",
                       hint="install it (pip install matplotlib) and try again") from exc
    return plt


def _save(fig: Any, path: str | Path) -> Path:
    plt = _pyplot()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def grid_png(grid: CodeGrid, path: str | Path, title: str | None = None) -> Path:
    """Cells coloured by code index (one row per level, coarse at the top), a time axis in seconds."""
    plt = _pyplot()
    width = min(16.0, max(6.0, grid.frames * 0.05))
    fig, ax = plt.subplots(figsize=(width, 1.1 + 0.55 * grid.levels))
    extent = (0.0, grid.seconds, grid.levels - 0.5, -0.5)
    image = ax.imshow(grid.codes.numpy(), aspect="auto", interpolation="nearest", cmap="turbo",
                      vmin=0, vmax=grid.model.codebook_size - 1, extent=extent)
    ax.set_yticks(range(grid.levels), [f"{i + 1} {lab}" for i, lab in enumerate(grid.labels)])
    ax.set_xlabel("time (s)")
    ax.set_title(title or f"{Path(str((grid.source or {}).get('path') or 'grid')).name} - model "
                          f"'{grid.model.name}', {grid.frames} frames of {grid.frame_seconds * 1000:.0f} ms",
                 fontsize=10)
    for e in grid.edits[: grid.position]:  # outline edited regions
        ax.axvspan(e.start * grid.frame_seconds, e.stop * grid.frame_seconds, fill=False, edgecolor="white",
                   linewidth=1.2, linestyle="--")
    fig.colorbar(image, ax=ax, pad=0.01, label="code index")
    fig.tight_layout()
    return _save(fig, path)


def usage_png(counts: Tensor | np.ndarray, path: str | Path, title: str, status: str | None = None) -> Path:
    """Heatmap of code usage: one row per level, one column per code, colour = share of frames (log)."""
    plt = _pyplot()
    c = np.asarray(counts, dtype=np.float64)
    share = c / np.maximum(c.sum(axis=1, keepdims=True), 1.0)
    shown = np.log10(np.maximum(share, 1e-5))
    fig, ax = plt.subplots(figsize=(min(16.0, max(7.0, c.shape[1] * 0.06)), 1.6 + 0.55 * c.shape[0]))
    image = ax.imshow(shown, aspect="auto", interpolation="nearest", cmap="magma", vmin=-5, vmax=0)
    unused = np.argwhere(c == 0)
    if unused.size:
        ax.scatter(unused[:, 1], unused[:, 0], marker="x", s=12, color="#7fd0ff", linewidths=0.8)
    labels = level_labels(c.shape[0])
    ax.set_yticks(range(c.shape[0]), [f"{i + 1} {lab}" for i, lab in enumerate(labels)])
    ax.set_xlabel("code index (x = never used)" if unused.size else "code index")
    ax.set_title(textwrap.fill(title, 80), fontsize=10, color=STATUS_COLOURS.get(status or "", "black"))
    fig.colorbar(image, ax=ax, pad=0.01, label="log10 share of frames")
    fig.tight_layout()
    return _save(fig, path)


def spectrograms_png(items: Sequence[tuple[str, Tensor]], path: str | Path, frame_seconds: float,
                     marks: Sequence[tuple[float, float]] | None = None) -> Path:
    """Log-mels ``(n_mels, T)`` stacked with their titles and one colour scale; ``marks`` shades regions (s)."""
    plt = _pyplot()
    mels = [np.asarray(m, dtype=np.float32) for _, m in items]
    lo = min(float(np.percentile(m, 2)) for m in mels)
    hi = max(float(m.max()) for m in mels)
    fig, axes = plt.subplots(len(items), 1, figsize=(9, 2.1 * len(items)), squeeze=False)
    for ax, (title, _), mel in zip(axes[:, 0], items, mels):
        ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=lo, vmax=hi,
                  extent=(0.0, mel.shape[1] * frame_seconds, 0, mel.shape[0]))
        for a, b in marks or []:
            ax.axvline(a, color="#7fd0ff", linewidth=1.0, linestyle="--")
            ax.axvline(b, color="#7fd0ff", linewidth=1.0, linestyle="--")
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("mel band")
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    return _save(fig, path)
