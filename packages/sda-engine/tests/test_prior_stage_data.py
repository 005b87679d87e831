"""What the prior stage trains on: the training codes, their augmented copies, silence after short one-shots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from sda_engine.train.prior_stage import pad_with


def test_short_sequences_are_followed_by_silence() -> None:
    silence = torch.full((2, 8), 7)
    short = torch.arange(6).reshape(2, 3)
    padded = pad_with(short, silence)
    assert padded.shape == (2, 8)
    assert torch.equal(padded[:, :3], short) and bool((padded[:, 3:] == 7).all())


def test_long_sequences_are_kept_as_they_are() -> None:
    silence = torch.zeros((2, 4), dtype=torch.long)
    long = torch.arange(12).reshape(2, 6)
    assert pad_with(long, silence) is long


def test_the_prior_learns_the_augmented_copies_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import soundfile as sf

    import sda_engine.train.trainer as trainer
    from sda_engine.store.home import SdaHome
    from sda_engine.train import TrainOptions, plan, run
    from sda_engine.train.prior_stage import PriorStage

    seen: list[PriorStage] = []

    class Recording(PriorStage):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            seen.append(self)

    monkeypatch.setattr(trainer, "PriorStage", Recording)
    folder = tmp_path / "ds"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):  # 1.5 s textures: long enough for a window, nothing is padded
        t = np.arange(int(1.5 * 22050)) / 22050
        x = 0.2 * np.sin(2 * np.pi * (110 + 30 * i) * t) + 0.02 * rng.standard_normal(t.size)
        sf.write(folder / f"t{i}.wav", x.astype(np.float32), 22050)
    home = SdaHome(tmp_path / "home")
    options = TrainOptions(name="aug", dataset=str(folder), kind="rvq", size="tiny", controls=False, steps=2,
                           eval_every=2, checkpoint_every=2, batch_size=2, preview_every=1000)
    run(plan(options, home), home=home)
    stage = seen[0]
    assert stage.ae.cache is not None
    copies = len(stage.ae.cache.copies) - 1
    assert copies >= 1
    assert len(stage.augmented) == copies * len(stage.clean_codes)
    assert len(stage.train_codes) == len(stage.clean_codes) * (1 + copies)
    assert all(c.shape[0] == stage.cfg.levels for c in stage.train_codes)
