"""The vocoder benchmark end to end on a small synthetic set: its table and its spectrogram figure."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vocoders as bench  # noqa: E402

SR = 44100


def test_table_and_figure_for_a_small_set(tmp_path: Path) -> None:
    folder = tmp_path / "tones"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        t = np.arange(int(SR * 0.6)) / SR
        x = 0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t) * np.exp(-3 * t) + 0.003 * rng.standard_normal(t.size)
        sf.write(folder / f"hit{i}.wav", x.astype(np.float32), SR)
    out = tmp_path / "vocoders.md"
    text = bench.main([str(folder), "--gl-iters", "4", "--figures", str(tmp_path / "fig"), "--out", str(out)])
    assert out.read_text() == text
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "original (ceiling) | 0.000 | 0.000" in rows["original (ceiling)"]  # the measurement checks itself
    assert {"corpus", "griffin-lim 4 it (floor)", "refinement alone, from noise (control)"} <= set(rows)
    png = tmp_path / "fig" / "tones.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![held-out tones through each vocoder](tones.png)" in text


def test_hifigan_curve_scores_the_generator_and_the_floor(tmp_path: Path) -> None:
    import hifigan_curve

    folder = tmp_path / "tones"
    folder.mkdir()
    for i in range(3):
        t = np.arange(int(SR * 0.5)) / SR
        sf.write(folder / f"hit{i}.wav", (0.3 * np.sin(2 * np.pi * 330 * (i + 1) * t)).astype(np.float32), SR)
    text = hifigan_curve.main([str(folder), "--minutes", "0.05", "--eval-every", "0.02", "--warmup", "1",
                               "--out", str(tmp_path / "curve.md")])
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| training")]
    steps = [int(r.split(" | ")[1]) for r in rows[:-1]]
    assert steps and steps == sorted(steps) and steps[-1] >= 1
    for row, step in zip(rows[:-1], steps, strict=True):  # past a one-step warm-up the GAN objective is on
        assert ("adversarial" in row) == (step > 1)
    floor = rows[-1].split(" | ")
    assert floor[0] == "| griffin-lim 64 it (floor)" and 0 < float(floor[3]) < 5
