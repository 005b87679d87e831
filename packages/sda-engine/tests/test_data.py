"""Training data: loading, looping short files, validation split, seeded sampling, augmentation, stats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from sda_audio.augment import Compose, Gain
from sda_engine.train.data import MIN_FILES_FOR_FILE_SPLIT, TrainingData

SR = 44100
SEG = 64 * 512


def _write(folder: Path, n: int, seconds: float = 1.5, sr: int = SR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        t = np.arange(int(sr * seconds)) / sr
        x = 0.3 * np.sin(2 * np.pi * 110 * (i + 1) * t) + 0.01 * rng.standard_normal(t.size)
        p = folder / f"f{i:02d}.wav"
        sf.write(p, x.astype(np.float32), sr)
        paths.append(p)
    return paths


def test_short_files_are_looped_and_named_in_a_warning(tmp_path: Path) -> None:
    files = _write(tmp_path / "a", 5)
    short = tmp_path / "a" / "short.wav"
    sf.write(short, (0.2 * np.sin(np.arange(int(0.3 * SR)) / 10)).astype(np.float32), SR)
    events = []
    data = TrainingData([*files, short], SEG, seed=0, on_event=events.append)
    warnings = [e for e in events if e.kind == "warning"]
    assert warnings and "short.wav" in warnings[0].message
    item = next(it for it in data.all_items if it.path == short)
    assert item.looped and item.samples.shape[0] == SEG
    # the loop repeats the file, it does not pad with silence
    assert np.allclose(item.samples[: int(0.3 * SR)], item.samples[int(0.3 * SR): 2 * int(0.3 * SR)], atol=1e-6)


def test_split_is_by_file_and_seeded(tmp_path: Path) -> None:
    files = _write(tmp_path / "b", 8)
    a = TrainingData(files, SEG, seed=3)
    b = TrainingData(files, SEG, seed=3)
    assert a.split.method == "files"
    assert a.split.val_files == b.split.val_files
    assert not set(a.split.val_files) & set(a.split.train_files)
    assert len(a.split.val_files) >= 1 and len(a.split.train_files) + len(a.split.val_files) == 8
    seeds_val = {TrainingData(files, SEG, seed=s).split.val_files for s in range(6)}
    assert len(seeds_val) > 1  # the seed really picks the files


def test_few_files_hold_out_tail_windows_and_say_so(tmp_path: Path) -> None:
    files = _write(tmp_path / "c", MIN_FILES_FOR_FILE_SPLIT - 3, seconds=3.0)
    events = []
    data = TrainingData(files, SEG, seed=0, on_event=events.append)
    assert data.split.method == "tail-windows"
    assert any(e.kind == "info" and "validation" in e.message for e in events)
    for tr, va, full in zip(data.train_items, data.val_items, data.all_items):
        assert tr.samples.shape[0] + va.samples.shape[0] == full.samples.shape[0]
        assert np.array_equal(va.samples, full.samples[-va.samples.shape[0]:])
    assert data.validation_waves().shape[1] == SEG


def test_sampler_is_seeded_and_resumable(tmp_path: Path) -> None:
    files = _write(tmp_path / "d", 6)
    a = TrainingData(files, SEG, seed=5)
    b = TrainingData(files, SEG, seed=5)
    assert torch.equal(a.sample_waves(3), b.sample_waves(3))
    state = a.generator.get_state()
    first = a.sample_waves(2)
    a.generator.set_state(state)
    assert torch.equal(first, a.sample_waves(2))
    c = TrainingData(files, SEG, seed=6)
    assert not torch.equal(c.sample_waves(3), TrainingData(files, SEG, seed=5).sample_waves(3))


def test_augmentation_changes_the_waveform(tmp_path: Path) -> None:
    files = _write(tmp_path / "e", 6)
    plain = TrainingData(files, SEG, seed=0)
    aug = TrainingData(files, SEG, seed=0, augment=Compose([Gain(db=(-6.0, -3.0), p=1.0)]))
    x, y = plain.sample_waves(2, augment=False), aug.sample_waves(2)
    assert y.shape == x.shape
    ratio = float(y.abs().max() / x.abs().max())
    assert 10 ** (-6 / 20) - 1e-3 <= ratio <= 10 ** (-3 / 20) + 1e-3


def test_mel_stats_come_from_training_files_only(tmp_path: Path) -> None:
    from sda_models.mel import LogMel

    files = _write(tmp_path / "f", 6)
    data = TrainingData(files, SEG, seed=0)
    stats = data.mel_stats(LogMel())
    mel = LogMel()
    train_only = torch.cat([mel(torch.from_numpy(it.samples)) for it in data.train_items], dim=-1)
    assert torch.allclose(stats.mean, train_only.mean(dim=-1), atol=1e-3)


def test_training_data_and_corpus_index_read_a_48k_stereo_file_identically(tmp_path: Path) -> None:
    from sda_engine.train.data import load_mono
    from sda_models.vocoders.corpus_index import INT16_SCALE, CorpusIndex, _load_mono

    rng = np.random.default_rng(3)
    t = np.arange(int(48000 * 1.3)) / 48000
    left = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.02 * rng.standard_normal(t.size)
    right = 0.3 * np.sin(2 * np.pi * 18000 * t)  # near the 22.05 kHz Nyquist: a careless resampler aliases it
    path = tmp_path / "stereo48.wav"
    sf.write(path, np.stack([left, right], axis=1).astype(np.float32), 48000, subtype="FLOAT")

    training = load_mono(path)
    assert training.shape == (int(np.ceil(t.size * SR / 48000)),) and training.dtype == np.float32
    np.testing.assert_array_equal(_load_mono(path, SR), training)
    # the index stores exactly those samples (DC removed, whole hops, int16 with a per-file scale)
    index = CorpusIndex.build([path])
    usable = (training.size // 512) * 512
    expected = training[:usable] - float(training[:usable].mean())
    stored = index.file_audio(0)
    assert stored.shape == expected.shape
    assert np.abs(stored - expected).max() <= float(index.file_scales[0]) / INT16_SCALE


def test_a_long_list_of_short_files_is_named_in_part_and_kept_whole_in_the_data(tmp_path: Path) -> None:
    from sda_audio.progress import ProgressEvent
    from sda_engine.train.data import NAMED_IN_A_LINE

    folder = tmp_path / "notes"
    folder.mkdir()
    files = []
    for i in range(NAMED_IN_A_LINE + 5):
        path = folder / f"note{i:02d}.wav"
        sf.write(path, np.full(2000, 0.1, np.float32), 44100)
        files.append(path)
    events: list[ProgressEvent] = []
    TrainingData(files, 512 * 64, seed=0, on_event=events.append, pad_short=True)
    [told] = [e for e in events if "shorter than a training segment" in e.message]
    assert told.message.endswith("and 5 more") and len(told.data["padded_files"]) == NAMED_IN_A_LINE + 5
