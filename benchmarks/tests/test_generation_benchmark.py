"""The generation benchmark end to end with a tiny model, and its FLOP counting on known operations."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import generation as bench  # noqa: E402

SR = 44100


def test_flop_counter_counts_matmuls_ffts_and_the_banded_filterbank() -> None:
    from sda_models.mel import MelConfig
    from sda_models.vocoders import mel_correction

    a, b = torch.randn(8, 16), torch.randn(16, 4)
    with bench.flop_counter() as counter:
        a @ b
        torch.fft.rfft(torch.randn(10, 2048))
    assert counter.get_total_flops() == 2 * 8 * 16 * 4 + int(10 * 2.5 * 2048 * 11)
    config = MelConfig()
    window, fb, spread, _ = mel_correction._grid(config, torch.device("cpu"))
    x = torch.rand(config.n_freqs, 3)
    with bench.flop_counter() as counter:
        _, fb_dense, _, _ = mel_correction._grid(config, torch.device("cpu"))
        fb_dense @ x  # counted by its stored entries, as the sparse product it stands for
    assert counter.get_total_flops() == 2 * int(fb._nnz()) * 3
    assert mel_correction._grid(config, torch.device("cpu"))[1].layout == torch.sparse_csr  # restored


def test_matmul_peak_is_measured() -> None:
    peak = bench.matmul_peak_gflops(1, n=256, repeats=2)
    assert 0.1 < peak < 1e5


def test_table_for_a_tiny_model(tmp_path: Path, monkeypatch) -> None:
    from sda_engine.store.home import SdaHome
    from sda_engine.train import TrainOptions, plan, run

    folder = tmp_path / "tones"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        t = np.arange(int(SR * 1.5)) / SR
        x = 0.3 * np.sin(2 * np.pi * 110 * (i + 2) * t) * np.exp(-2 * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"take{i}.wav", x.astype(np.float32), SR)
    home = tmp_path / "home"
    monkeypatch.setenv("SDA_HOME", str(home))
    options = TrainOptions(name="tones", dataset=str(folder), kind="rvq", size="tiny", controls=False, steps=2,
                           prior_steps=2, eval_every=2, checkpoint_every=2, batch_size=2, augment=False,
                           preview_every=1000, validate=False)
    run(plan(options, SdaHome(home)), home=SdaHome(home))
    out = tmp_path / "generation.md"
    text = bench.main(["tones", "--seconds", "1.5", "--repeats", "1", "--threads", "1", "--out", str(out)])
    assert out.read_text() == text
    rows = [line for line in text.splitlines() if line.startswith("| tones |")]
    assert len(rows) == 2, text  # the stage table and the FLOP table
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[1] == "rvq" and cells[3] == "corpus"
    stages = [float(c) for c in cells[4:4 + len(bench.STAGES)]]
    assert all(s >= 0 for s in stages) and stages[bench.STAGES.index("vocoder")] > 0
    warm, cold = float(cells[4 + len(bench.STAGES)]), float(cells[7 + len(bench.STAGES)])
    assert 0 < warm < cold  # a new process pays for imports and loading on top
    flops = [c.strip() for c in rows[1].strip("|").split("|")]
    assert float(flops[1]) > 0 and float(flops[3]) > 0 and math.isfinite(float(flops[-1]))
    assert "search" in text and "refinement" in text
