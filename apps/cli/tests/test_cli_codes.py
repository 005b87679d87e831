"""``sda codes ...`` and ``sda models health`` on a tiny RVQ model file; a VAE model gets a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from sda_cli.main import app

SR = 44100
VAE_FIXTURE = Path(__file__).resolve().parents[3] / "packages/sda-models/tests/fixtures/tiny_v1.sda"
runner = CliRunner()


def _tone(seconds: float, freq: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    x = 0.3 * np.sin(2 * np.pi * freq * t * (1 + 0.3 * t)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (x + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A tiny RVQ model (codebooks k-means initialised on its 'training' files) and two sounds."""
    from sda_models.autoencoder import build_autoencoder
    from sda_models.configs import AutoencoderConfig, PriorConfig
    from sda_models.mel import LogMel
    from sda_models.model_file import ModelBundle, save_model
    from sda_models.normalization import MelStats
    from sda_models.prior import CodePrior

    root = tmp_path_factory.mktemp("codes")
    files = []
    for i, freq in enumerate((110.0, 440.0, 1320.0)):
        files.append(root / f"take{i}.wav")
        sf.write(files[-1], _tone(1.5, freq, i), SR)
    cfg = AutoencoderConfig(kind="rvq", channels=(16, 16, 16), latent_dim=8, res_blocks=1, kernel_size=3,
                            rvq_levels=2, codebook_size=16, codebook_dim=8, kmeans_iters=3)
    ae = build_autoencoder(cfg, seed=0)
    mels = [LogMel()(torch.from_numpy(sf.read(f, dtype="float32")[0])[None]) for f in files]
    stats = MelStats.from_mels([m[0] for m in mels])
    with torch.no_grad():
        ae.train()(stats.normalize(torch.cat(mels)))
    prior = CodePrior(PriorConfig(levels=2, codebook_size=16, d_model=32, n_layers=1, n_heads=2, dropout=0.0,
                                  context_frames=16))
    model = root / "tiny.sda"
    save_model(model, ModelBundle(metadata={"dataset": {"files": [str(f) for f in files]}}, autoencoder=ae.eval(),
                                  stats=stats, prior=prior.eval()))
    a, b = root / "a.wav", root / "b.flac"
    sf.write(a, np.stack([_tone(2.0, 220, 5), _tone(2.0, 230, 6)]).T, 48000)
    sf.write(b, _tone(2.2, 880, 7), 22050)
    return model, a, b


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def _codes(grid: Path) -> list[list[int]]:
    return json.loads(_ok(["codes", "show", grid, "--json"]))["codes"]


def test_every_verb_end_to_end(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    model, a, b = setup
    ga, gb = tmp_path / "a.sdacodes", tmp_path / "b"
    assert "2 levels" in _ok(["codes", "encode", a, "--model", model, "-o", ga])
    _ok(["codes", "encode", b, "-m", model, "-o", gb])
    gb = gb.with_name("b.sdacodes")
    shown = json.loads(_ok(["codes", "show", ga, "--json"]))
    assert {"model", "levels", "frames", "frame_seconds", "codes", "labels"} <= set(shown)
    assert shown["labels"] == ["Structure", "Detail"] and shown["model"] == "tiny"
    assert len(shown["codes"]) == 2 and len(shown["codes"][0]) == shown["frames"]
    original = shown["codes"]
    text = _ok(["codes", "show", ga, "--png", tmp_path / "a.png"])
    assert "Structure" in text and (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"

    frame = int(0.3 / shown["frame_seconds"])
    new_index = (original[1][frame] + 1) % 16
    _ok(["codes", "set", ga, "--level", 2, "--at", 0.3, "--index", new_index])
    assert _codes(ga)[1][frame] == new_index
    _ok(["codes", "swap", ga, gb, "--from", 0.5, "--to", 1.0, "--levels", "1,2"])
    lo, hi = round(0.5 / shown["frame_seconds"]), round(1.0 / shown["frame_seconds"])
    swapped, source = _codes(ga), _codes(gb)
    assert [row[lo:hi] for row in swapped] == [row[lo:hi] for row in source]
    out = _ok(["codes", "regenerate", ga, "--from", 1.2, "--to", 1.6, "--levels", 2, "--seed", 4])
    assert "regenerated" in out
    after = _codes(ga)
    assert after[0] == swapped[0]  # Structure kept
    for _ in range(3):
        _ok(["codes", "undo", ga])
    assert _codes(ga) == original  # bit-exact, across separate commands
    _ok(["codes", "redo", ga])
    assert _codes(ga)[1][frame] == new_index

    _ok(["codes", "blend", ga, gb, "--amount", 0.5, "-o", tmp_path / "mix.sdacodes"])
    assert len(_codes(tmp_path / "mix.sdacodes")[0]) == shown["frames"]

    wav = tmp_path / "out.wav"
    _ok(["codes", "decode", ga, "-o", wav, "--channels", "stereo", "--sample-rate", 48000, "--bit-depth", 16,
         "--vocoder", "corpus"])
    audio, rate = sf.read(wav)
    assert rate == 48000 and audio.shape[1] == 2 and abs(audio.shape[0] / rate - shown["frames"]
                                                         * shown["frame_seconds"]) < 0.05
    sidecar = json.loads(wav.with_name("out.wav.json").read_text())
    meta = sidecar["metadata"]
    assert meta["model"] == "tiny" and meta["parameters"]["code_grid"]["edits_applied"] == 1
    assert "seed" not in meta and "seed" not in meta["parameters"]  # the request holds the (unused) seed alone
    refused = runner.invoke(app, ["codes", "decode", str(ga), "-o", str(wav)])
    assert refused.exit_code == 1 and "already there" in refused.output and "--overwrite" in refused.output
    assert sf.read(wav)[0].shape == audio.shape  # left as it was
    _ok(["codes", "decode", ga, "-o", wav, "--channels", "mono", "--overwrite"])
    assert sf.info(wav).channels == 1

    entry = tmp_path / "entry.wav"
    said = _ok(["codes", "entry", "--model", model, "--level", 2, "--index", 3, "--seconds", 1.0, "-o", entry,
                "--vocoder", "corpus"])
    assert "training audio" in said and sf.info(entry).duration == pytest.approx(1.0, abs=0.05)
    again = runner.invoke(app, ["codes", "entry", "--model", str(model), "--level", "2", "--index", "3", "-o",
                                str(entry)])
    assert again.exit_code == 1 and "--overwrite" in again.output

    health = json.loads(_ok(["models", "health", model, "--json", "--png", tmp_path / "health.png"]))
    assert health["status"] in ("green", "yellow", "red") and len(health["levels"]) == 2
    assert health["files"] == 3 and (tmp_path / "health.png").is_file()


def test_bad_input_gets_one_line(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    model, a, _ = setup
    bad = tmp_path / "bad.sdacodes"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"codes\": 1}")
    for args in (["codes", "show", bad], ["codes", "undo", bad], ["codes", "decode", bad]):
        result = runner.invoke(app, [str(x) for x in args])
        assert result.exit_code == 1 and "bad.sdacodes" in result.output and "Traceback" not in result.output
        assert result.output.count("\n") == 1, result.output
    grid = tmp_path / "g.sdacodes"
    _ok(["codes", "encode", a, "-m", model, "-o", grid])
    again = runner.invoke(app, ["codes", "encode", str(a), "-m", str(model), "-o", str(grid)])
    assert again.exit_code == 1 and "--overwrite" in again.output
    nothing = runner.invoke(app, ["codes", "undo", str(grid)])
    assert nothing.exit_code == 1 and "nothing to undo" in nothing.output
    far = runner.invoke(app, ["codes", "set", str(grid), "--level", "3", "--at", "0.1", "--index", "1"])
    assert far.exit_code == 1 and "levels 1..2" in far.output


def test_a_vae_model_has_no_codes(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, a, _ = setup
    grid = tmp_path / "g.sdacodes"
    _ok(["codes", "encode", a, "-m", setup[0], "-o", grid])
    for args in (["codes", "encode", a, "-m", VAE_FIXTURE, "-o", tmp_path / "v.sdacodes"],
                 ["codes", "entry", "-m", VAE_FIXTURE, "--level", 1, "--index", 0],
                 ["codes", "decode", grid, "--model", VAE_FIXTURE],
                 ["codes", "regenerate", grid, "--from", 0, "--to", 0.5, "--model", VAE_FIXTURE],
                 ["models", "health", VAE_FIXTURE]):
        result = runner.invoke(app, [str(x) for x in args])
        assert result.exit_code == 1, result.output
        assert "VAE" in result.output and "no codes" in result.output, result.output
