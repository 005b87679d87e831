"""Fast checks of the yardstick runner's own parts (no training): split, controls, bar, report, figure.

Run with ``uv run --no-sync pytest benchmarks/tests -q`` (a few seconds).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _quality_controls as controls  # noqa: E402
import _quality_report as report_mod  # noqa: E402
import sound_quality as sq  # noqa: E402
from _quality_bar import CRITERIA, judge, onset_ratio  # noqa: E402
from _spectrograms import Panel, mel_db, render_figure  # noqa: E402

REFS = {"fd_shuffled_grains": 50.0, "onset_rate_real": 2.0, "quiet_floor_real_db": 30.0}
GOOD = {"fd_generated": 20.0, "fd_vocoder_random_frames": 40.0, "fd_model_frames_shuffled": 35.0,
        "onset_rate": 2.4, "quiet_floor_db": 27.0, "novelty": 1.1, "hygiene_failures": 0, "n_generated": 8}


def test_split_is_seeded_disjoint_and_two_thirds():
    files = [Path(f"/x/f{i:02d}.wav") for i in range(12)]
    train, held = sq.split_files(files, seed=3)
    assert (train, held) == sq.split_files(list(reversed(files)), seed=3)
    assert len(train) == 8 and len(held) == 4
    assert set(train) | set(held) == set(files) and not set(train) & set(held)
    assert sq.split_files(files, seed=4) != (train, held)
    small_train, small_held = sq.split_files(files[:2], seed=0)
    assert len(small_train) == 1 and len(small_held) == 1
    with pytest.raises(ValueError):
        sq.split_files(files[:1], seed=0)


def test_controls_keep_frames_and_drop_order():
    pool = torch.arange(128 * 50, dtype=torch.float32).reshape(128, 50)
    rng = np.random.default_rng(0)
    picked = controls.random_frames(pool, 200, rng)
    assert picked.shape == (128, 200)
    columns = {tuple(pool[:, i].tolist()) for i in range(50)}
    assert all(tuple(picked[:, j].tolist()) in columns for j in range(0, 200, 17))
    again = controls.random_frames(pool, 200, np.random.default_rng(0))
    assert torch.equal(picked, again)

    mel = torch.randn(128, 300)
    shuffled = controls.shuffle_frames(mel, np.random.default_rng(1))
    assert not torch.equal(shuffled, mel)
    order = torch.argsort(shuffled[0])
    assert torch.equal(shuffled[:, order], mel[:, torch.argsort(mel[0])])


def test_training_log_mels_uses_the_model_mel():
    waves = [np.zeros(44100, dtype=np.float32), np.random.default_rng(0).standard_normal(10000).astype(np.float32)]
    mels = controls.training_log_mels(waves)
    assert mels.shape[0] == 128
    assert mels.shape[1] == 44100 // 512 + 10000 // 512
    assert math.isclose(float(mels[:, : 44100 // 512].max()), math.log(1e-5), rel_tol=1e-4)


class _EchoVocoder:
    """A stand-in vocoder for the control plumbing only: frame loudness -> a constant block per frame."""

    name = "echo"
    sample_rate = 44100

    def synthesize(self, log_mel):
        return np.repeat(log_mel.mean(dim=0).numpy().astype(np.float32), 512)


def test_capture_records_the_generation_mel_and_vocoder_and_restores_rendering(tmp_path):
    from sda_engine.generate import rendering
    from sda_engine.generate.renderer import Renderer
    from sda_engine.generate.request import GenerationRequest
    from sda_engine.generate.session import ModelSession
    from sda_engine.store.home import SdaHome

    class Ae:
        config = type("C", (), {"kind": "vae", "downsample": 4, "latent_dim": 8, "n_mels": 128})()

        def decode(self, latent):
            return latent.mean(dim=1, keepdim=True).repeat_interleave(4, dim=-1).expand(-1, 128, -1).clone()

    class Stats:
        def denormalize(self, x):
            return x

    bundle = type("B", (), {"autoencoder": Ae(), "stats": Stats(), "prior": None, "metadata": {}})()
    original = rendering.render_mel, rendering.vocode_chunks
    voc = _EchoVocoder()
    session = ModelSession(bundle, Path("fake.sda"), "fake", "0" * 64, torch.device("cpu"), SdaHome(tmp_path))
    session._vocoders["auto"] = (voc, "echo", "a stand-in")
    request = GenerationRequest().replace(duration=1.0, seed=2, channels="mono")
    with controls.capture_rendering() as cap:
        renderer = Renderer(session, request)
        audio = renderer.render(renderer.sample()).samples[0]
    assert (rendering.render_mel, rendering.vocode_chunks) == original
    assert cap.vocoder is voc and len(cap.mels) == 1 and cap.mels[0].shape == (128, 87)
    again = controls.vocode_like_generation(voc, cap.mels[0], 1.0)
    assert np.allclose(again, audio, atol=1e-6)
    alone, shuffled = controls.control_clips(voc, cap.mels, [1.0], torch.randn(128, 40), seed=0)
    assert alone[0].shape == shuffled[0].shape == (44100,)
    assert not np.allclose(shuffled[0], audio)


def test_bar_passes_a_good_run_and_names_each_miss():
    verdict = judge(GOOD, REFS)
    assert [c.name for c in verdict] == [name for name, _ in CRITERIA]
    assert all(c.passed for c in verdict)
    cases = {
        "closer_than_grains": {"fd_generated": 60.0, "fd_vocoder_random_frames": 70.0,
                               "fd_model_frames_shuffled": 70.0},
        "closer_than_vocoder_alone": {"fd_vocoder_random_frames": 10.0},
        "closer_than_model_shuffled": {"fd_model_frames_shuffled": 19.9},
        "onset_rate": {"onset_rate": 4.0},
        "quiet_floor": {"quiet_floor_db": 37.0},
        "novelty": {"novelty": 0.2},
        "hygiene": {"hygiene_failures": 1},
    }
    for name, change in cases.items():
        failed = [c.name for c in judge({**GOOD, **change}, REFS) if not c.passed]
        assert failed == [name], (name, failed)
    assert not next(c for c in judge({**GOOD, "fd_generated": float("nan")}, REFS) if c.name == "closer_than_grains").passed
    assert not next(c for c in judge({**GOOD, "n_generated": 0}, REFS) if c.name == "hygiene").passed


def test_onset_ratio_floor_makes_two_strokeless_sets_equal():
    assert onset_ratio(0.0, 0.0) == 1.0
    assert onset_ratio(3.1, 1.9) == pytest.approx(3.2 / 2.0)
    slow = judge({**GOOD, "onset_rate": 0.0}, {**REFS, "onset_rate_real": 0.02})
    assert next(c for c in slow if c.name == "onset_rate").passed


def _report(sets: list[dict]) -> dict:
    return {"command": "python benchmarks/sound_quality.py --minutes 0.3", "started": "2026-01-01T00:00:00+00:00",
            "finished": "2026-01-01T00:01:00+00:00",
            "machine": {"platform": "Linux", "python": "3.12", "cpu_count": 2, "torch": "2.11", "torch_threads": 2,
                        "cuda_available": False},
            "settings": {"sets": ["demo"], "kinds": ["rvq"], "minutes": 0.3, "clips": 2, "clip_seconds": 3.0,
                         "seed": 0, "vocoder_minutes": 0.0, "device": "cpu"},
            "smoke": True, "bar": {"max_onset_factor": 1.6, "onset_floor": 0.1, "max_quiet_floor_gap_db": 6.0,
                                   "novelty_range": [0.5, 2.5], "max_hygiene_failures": 0}, "sets": sets}


def _set_entry() -> dict:
    row = {**GOOD, "vocoder": "corpus", "vocoder_reason": "r", "generation_seconds": 4.0, "real_time_factor": 0.5,
           "generated_level_db": -21.0, "hygiene": [{"file": "a.wav", "ok": False, "failures": ["DC offset 0.2"]}],
           "fd_generated": float("nan")}
    criteria = judge(row, REFS)
    row["criteria"] = [c.to_dict() for c in criteria]
    row["passed"] = all(c.passed for c in criteria)
    refs = {**REFS, "fd_held_out": 12.0, "fd_pink_noise": 900.0, "onset_rate_train": 2.1,
            "quiet_floor_train_db": 31.0, "set_level_db": -20.0, "set_silent_fraction": 0.1, "train_windows": 40,
            "held_out_windows": 20}
    return {"name": "demo", "source": "demo", "train_files": ["a.wav", "b.wav"], "held_out_files": ["c.wav"],
            "train_seconds": 10.0, "held_out_seconds": 5.0, "references": refs, "figure": "demo.png",
            "runs": [{"kind": "rvq", "training": {"preset": "tiny", "preset_reason": "small", "device": "cpu",
                                                  "seconds": 60.0, "stages": {"autoencoder": {"steps": 3,
                                                                                              "stop_reason": "time"}},
                                                  "warnings": [], "vocoder": None}, "vocoders": [row]},
                     {"kind": "vae", "error": "training failed: boom", "vocoders": []}]}


def test_report_writes_tables_json_and_keeps_the_changes_section(tmp_path):
    out = tmp_path / "docs" / "quality.md"
    out.parent.mkdir()
    out.write_text("# old\n\nold table\n\n## Changes and their effect (before/after)\n\n"
                   "| 2026-01-01 | wider decoder | drums/rvq | 80 | 40 |\n\n## Old tail\nstale\n")
    report_mod.write_report(_report([_set_entry()]), out, tmp_path / "docs" / "quality")
    text = out.read_text()
    assert "| 2026-01-01 | wider decoder | drums/rvq | 80 | 40 |" in text
    assert "old table" not in text and "stale" not in text
    assert "Smoke run" in text and "**MISS**" in text and "training failed: boom" in text
    assert "Partial" not in text
    assert "![demo: held-out real files and generations](quality/demo.png)" in text
    assert "DC offset 0.2" in text
    data = json.loads((tmp_path / "docs" / "quality" / "results.json").read_text())
    assert data["sets"][0]["runs"][0]["vocoders"][0]["fd_generated"] is None
    # A second run keeps the section again (and only once).
    report_mod.write_report(_report([_set_entry()]), out, tmp_path / "docs" / "quality")
    assert out.read_text().count("wider decoder") == 1


def test_report_without_a_changes_section_starts_one(tmp_path):
    out = tmp_path / "quality.md"
    report_mod.write_report({**_report([]), "complete": False}, out, tmp_path / "quality")
    text = out.read_text()
    assert report_mod.CHANGES_HEADING in text and "| date | change |" in text
    assert "No set was available" in text and "**Partial.**" in text
    assert out.stat().st_mode & 0o777 == 0o644


def test_spectrogram_figure_is_a_png_and_mel_is_relative_to_peak(tmp_path):
    t = np.arange(44100) / 44100
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    db = mel_db(tone)
    assert db.shape[0] == 128 and db.max() == 0.0 and db.min() >= -80.0
    quiet = mel_db(tone * 1e-3)
    loud = db > -60.0
    assert np.allclose(db[loud], quiet[loud], atol=0.05)
    path = render_figure([("real", [Panel("tone", tone)]), ("gen", [Panel("a", tone), Panel("b", tone[::2])]),
                          ("empty", [])], tmp_path / "fig.png", max_seconds=1.0, title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        render_figure([("empty", [])], tmp_path / "none.png")


def test_options_and_missing_sets_are_reported(tmp_path, capsys):
    import soundfile as sf

    opts = sq.parse_args(["--sets", "ambient,demo", "--kinds", "rvq", "--minutes", "0.3", "--clips", "2",
                          "--clip-seconds", "3", "--datasets", str(tmp_path), "--out", str(tmp_path / "q.md")])
    assert opts.sets == ("ambient", "demo") and opts.kinds == ("rvq",) and opts.smoke
    assert not sq.parse_args([]).smoke
    with pytest.raises(SystemExit):
        sq.parse_args(["--sets", "nope"])
    assert sq.set_files("ambient", opts, tmp_path) is None
    assert "[skip] set 'ambient'" in capsys.readouterr().out
    (tmp_path / "ambient").mkdir()
    for i in range(3):
        sf.write(str(tmp_path / "ambient" / f"a{i}.wav"), np.zeros(4410, dtype=np.float32), 44100)
    assert len(sq.set_files("ambient", opts, tmp_path)) == 3


def test_render_only_rewrites_the_report_from_saved_results(tmp_path, capsys):
    out = tmp_path / "quality.md"
    assert sq.main(["--render-only", "--out", str(out)]) == 1
    report_mod.write_report(_report([_set_entry()]), out, tmp_path / "quality")
    out.write_text(out.read_text().replace("Record each tuning change", "Kept note. Record each tuning change"))
    assert sq.main(["--render-only", "--out", str(out)]) == 0
    text = out.read_text()
    assert "Kept note." in text and "| demo | rvq | corpus |" in text
