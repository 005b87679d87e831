"""The base model (issue 27): trained in pieces with exact resume, written as a base file, chosen and started from
by a user's training (its encoder and decoder, not its codebooks), and recorded in the model file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressEvent
from sda_engine.base.train import BaseTrainOptions, train_base
from sda_engine.store.home import SdaHome
from sda_engine.train import TrainOptions, plan, run
from sda_engine.train.base_start import BaseChoice, choose_base, load_base_start, load_start_weights
from sda_models.autoencoder import build_autoencoder
from sda_models.configs import preset_config
from sda_models.model_file import load_model

SR = 44100
QUICK = dict(batch_size=2, cached_variants=1, cache_megabytes=64.0, checkpoint_every=3, eval_every=3, log_every=1,
             val_fraction=0.2)


def _corpus(folder: Path, n: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        t = np.arange(int(SR * (0.8 + 0.1 * i))) / SR
        tone = np.sin(2 * np.pi * 80 * (i + 1) * t) * np.exp(-t * (2 + i))
        sf.write(folder / f"sound{i}.flac", (0.4 * tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32),
                 SR, subtype="PCM_24")
    return folder


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_model(path).autoencoder.state_dict()


def test_base_training_stops_resumes_exactly_and_writes_a_base_file(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus")
    straight = train_base(corpus, tmp_path / "straight", BaseTrainOptions(steps=6, **QUICK))
    assert straight.finished and straight.steps == 6 and straight.model_path is not None

    token = CancelToken()

    def stop_at_3(event: ProgressEvent) -> None:
        if event.job == "base.train" and event.kind == "checkpoint" and event.step == 3:
            token.cancel()

    first = train_base(corpus, tmp_path / "split", BaseTrainOptions(steps=6, **QUICK), on_event=stop_at_3,
                       cancel=token)
    assert not first.finished and first.steps == 3 and first.stop_reason == "cancelled"
    assert first.model_path is not None and first.model_path.is_file()  # the weights so far, usable already
    second = train_base(corpus, tmp_path / "split", BaseTrainOptions(steps=6, **QUICK))
    assert second.finished and second.resumed_from == 3
    a, b = _tensors(straight.model_path), _tensors(second.model_path)  # type: ignore[arg-type]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    meta = load_model(second.model_path).metadata  # type: ignore[arg-type]
    assert meta["base"]["steps"] == 6 and meta["base"]["size"] == "tiny" and meta["base"]["corpus"]["files"] == 8


def test_a_folder_started_with_another_recipe_is_refused(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus")
    train_base(corpus, tmp_path / "out", BaseTrainOptions(steps=2, **QUICK))
    with pytest.raises(SdaError, match="another recipe"):
        train_base(corpus, tmp_path / "out", BaseTrainOptions(steps=2, **{**QUICK, "batch_size": 3}))


def test_too_small_or_missing_corpus_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SdaError, match="not there"):
        train_base(tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(SdaError, match="at least"):
        train_base(_corpus(tmp_path / "small", n=3), tmp_path / "out")
    corpus = _corpus(tmp_path / "listed")
    (corpus / "manifest.json").write_text(json.dumps({"files": [{"path": "gone.flac"}]}))
    with pytest.raises(SdaError, match="missing"):
        train_base(corpus, tmp_path / "out")


def test_a_base_lends_its_encoder_and_decoder_but_not_its_codebooks() -> None:
    cfg = preset_config("tiny", "rvq", n_files=300).autoencoder  # 256 codes: another size than the user's
    base = build_autoencoder(cfg, seed=1)
    user_cfg = preset_config("tiny", "rvq", n_files=10).autoencoder
    model = build_autoencoder(user_cfg, seed=2)

    class Start:
        autoencoder, keeps_codebooks = base, False

    load_start_weights(model, Start())
    theirs, ours = base.state_dict(), model.state_dict()
    for key, value in ours.items():
        if key.startswith("rvq."):
            continue
        torch.testing.assert_close(value, theirs[key], msg=key)
    assert not any(bool(q.initialized) for q in model.rvq.quantizers)  # initialised from the user's first batch


def test_auto_uses_an_installed_base_only_where_it_was_measured_better(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = _corpus(tmp_path / "corpus")
    made = train_base(corpus, tmp_path / "base", BaseTrainOptions(steps=2, **QUICK))
    assert made.model_path is not None
    from sda_base import file_sha256

    index = {"bases": [{"file": made.model_path.name, "name": "sda-base-tiny-rvq", "size": "tiny", "kind": "rvq",
                        "sha256": file_sha256(made.model_path), "steps": 2, "fine_tune_by_default": False}]}
    (tmp_path / "base" / "index.json").write_text(json.dumps(index))
    monkeypatch.setenv("SDA_BASE_DIR", str(tmp_path / "base"))
    assert choose_base(None, "tiny", "rvq").path is None
    assert "did not beat" in choose_base(None, "tiny", "rvq").reason
    index["bases"][0]["fine_tune_by_default"] = True
    (tmp_path / "base" / "index.json").write_text(json.dumps(index))
    chosen = choose_base("auto", "tiny", "rvq")
    assert chosen.path == made.model_path and chosen.steps == 2 and "fine-tuned" in chosen.reason
    assert choose_base("none", "tiny", "rvq").path is None
    assert choose_base(None, "small", "rvq").path is None  # no base of those shapes
    index["bases"][0]["sha256"] = "0" * 64
    (tmp_path / "base" / "index.json").write_text(json.dumps(index))
    assert "does not match its recorded hash" in choose_base(None, "tiny", "rvq").reason


def test_a_base_of_other_shapes_is_refused_with_what_to_do(tmp_path: Path) -> None:
    made = train_base(_corpus(tmp_path / "corpus"), tmp_path / "base",
                      BaseTrainOptions(kind="vae", steps=1, **QUICK))
    assert made.model_path is not None
    choice = choose_base(str(made.model_path), "tiny", "rvq")
    with pytest.raises(SdaError, match="does not fit"):
        load_base_start(choice, preset_config("tiny", "rvq", n_files=8).autoencoder)
    with pytest.raises(SdaError, match="not there"):
        choose_base(str(tmp_path / "nothing.sda"), "tiny", "rvq")
    assert isinstance(choice, BaseChoice)


def test_training_from_a_base_starts_from_its_weights_and_records_it(tmp_path: Path) -> None:
    made = train_base(_corpus(tmp_path / "corpus"), tmp_path / "base", BaseTrainOptions(steps=3, **QUICK))
    assert made.model_path is not None
    data = _corpus(tmp_path / "mine", n=6)
    home = SdaHome(tmp_path / "home")
    events: list[ProgressEvent] = []
    options = TrainOptions(name="mine", dataset=str(data), size="tiny", augment=False, batch_size=2, steps=1,
                           prior_steps=1, controls=False, base=str(made.model_path), preview_every=1000)
    result = run(plan(options, home), events.append, None, home)
    meta = load_model(result.model_path).metadata  # type: ignore[arg-type]
    assert meta["base"]["file"] == made.model_path.name and meta["base"]["steps"] == 3
    assert any("fine-tuned from the base" in e.message for e in events if e.job == "train")
    # the statistics are the base's: the model normalises the mel as the base learnt it
    torch.testing.assert_close(load_model(result.model_path).stats.mean,  # type: ignore[arg-type]
                               load_model(made.model_path).stats.mean)
    scratch = run(plan(options.replace(name="scratch", base="none"), home), events.append, None, home)
    assert load_model(scratch.model_path).metadata["base"] is None  # type: ignore[arg-type]


def test_the_base_trains_in_two_processes_and_only_two_may_continue_it(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    corpus = _corpus(tmp_path / "corpus")
    out = tmp_path / "base"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "sda_cli",
               "base", "train", str(corpus), str(out), "--steps", "4", "--batch-size", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("base at step 4 of 4, finished") == 1  # rank 0 alone reports
    ckpt = json.loads(next((out / "checkpoints").glob("autoencoder-*.json")).read_text())
    assert ckpt["world_size"] == 2
    assert load_model(out / "base-tiny-rvq.sda").metadata["base"]["steps"] == 4
    with pytest.raises(SdaError, match="2 training process"):
        train_base(corpus, out, BaseTrainOptions(steps=6, batch_size=2))
