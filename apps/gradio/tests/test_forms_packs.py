"""Forms on the Generate tab, one-shot packs (players and a zip), and "Hear it as the model does" on the Library tab:
the pure functions first, then the handlers on a tiny one-shot model (a few training steps)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from sda_audio.errors import SdaError
from sda_engine.generate.request import GenerationRequest
from sda_gradio import tab_generate, tab_library
from sda_gradio.state import AppState

ONESHOT = {"form": "oneshot", "message": "12 of 12 files are one-shots", "forced": False}
PHRASE = {"form": "phrase", "message": "loops with gaps", "forced": False}
TEXTURE = {"form": "texture", "message": "continuous sound", "forced": False}


# -- forms --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("section", "offered", "own"), [
    (ONESHOT, ["auto", "oneshot", "phrase", "texture"], "oneshot"),
    (PHRASE, ["auto", "oneshot", "phrase", "texture"], "phrase"),
    (TEXTURE, ["auto", "oneshot", "texture"], "texture"),  # a drone has no strokes to place in time
    ({**TEXTURE, "forced": True}, ["auto", "oneshot", "phrase", "texture"], "texture"),
    (None, ["auto", "oneshot", "phrase", "texture"], "texture"),  # trained before forms: textures, as always
])
def test_the_forms_offered_follow_the_models_form(section: dict[str, Any] | None, offered: list[str],
                                                 own: str) -> None:
    choices = tab_generate.form_choices(section)
    assert [value for _, value in choices] == offered
    assert tab_generate.own_form(section) == own and tab_generate.effective_form(section, "auto") == own
    auto_label = choices[0][0]
    assert auto_label.startswith("auto") and tab_generate.FORM_LABELS[own] in auto_label


def test_form_words_are_musical_and_the_picker_keeps_what_it_can() -> None:
    assert "a new sample pack in the character of yours" in " · ".join(tab_generate.FORM_WORDS.values())
    assert "strokes placed in time with silence between them" in " · ".join(tab_generate.FORM_WORDS.values())
    assert "a continuous sound" in " · ".join(tab_generate.FORM_WORDS.values())
    assert "sample pack" in tab_generate.form_markdown(ONESHOT, "auto")
    assert "12 of 12 files are one-shots" in tab_generate.form_markdown(ONESHOT, "auto")
    assert "silence between" in tab_generate.form_markdown(ONESHOT, "phrase")
    assert "do not suit" in tab_generate.form_markdown(TEXTURE, "phrase")
    assert "before sda detected forms" in tab_generate.form_markdown(None, "auto")
    assert tab_generate.form_update(ONESHOT, "phrase")[1] == "phrase"
    assert tab_generate.form_update(TEXTURE, "phrase")[1] == "auto"  # not offered: back to the model's own
    assert tab_generate.form_update(TEXTURE, None)[1] == "auto"
    assert tab_generate.form_section({"form": {"form": "bogus"}}) is None
    assert tab_generate.form_section({"form": ONESHOT}) == ONESHOT


def test_form_and_bpm_round_trip_through_the_form_and_presets(tmp_path: Path) -> None:
    request = GenerationRequest().replace(duration=6.0, seed=4, variations=3, form="phrase", bpm=96.0,
                                          controls={"density": 0.4})
    values = tab_generate.form_values(request)
    assert len(values) == len(tab_generate.FORM_FIELDS)
    assert values[tab_generate.FORM_FIELDS.index("form")] == "phrase"
    assert values[tab_generate.FORM_FIELDS.index("bpm")] == 96.0
    assert tab_generate.request_from_form(values).to_dict() == request.to_dict()
    state = AppState(tmp_path / "home", device="cpu")
    assert "form" in tab_generate.save_preset(state, "groove", None, values, False, False)
    loaded = tab_generate.load_preset(state, "groove", None)
    assert tab_generate.request_from_form(loaded).to_dict() == request.to_dict()
    bad = list(values)
    bad[tab_generate.FORM_FIELDS.index("bpm")] = 900
    with pytest.raises(SdaError, match="900 BPM"):
        tab_generate.request_from_form(bad)


# -- packs ------------------------------------------------------------------------------------------
def _shots(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        t = np.arange(4410) / 44100
        path = folder / f"kit_s{i}-v{i + 1:02d}.wav"
        sf.write(path, (0.5 * np.exp(-t * 30) * np.sin(2 * np.pi * (200 + 50 * i) * t)).astype(np.float32), 44100)
        paths.append(path)
    return paths


def test_a_pack_zip_holds_every_one_shot_named_for_a_sampler(tmp_path: Path) -> None:
    paths = _shots(tmp_path / "history", 3)
    out = tmp_path / "exports" / "packs"
    name = tab_generate.pack_name("kit", 7)
    assert name == "kit_pack_s7"
    first = tab_generate.write_pack_zip(paths, out, name, "kit")
    assert first == out / "kit_pack_s7.zip"
    with zipfile.ZipFile(first) as zf:
        assert zf.namelist() == ["kit_001.wav", "kit_002.wav", "kit_003.wav"]
        assert zf.read("kit_002.wav") == paths[1].read_bytes()
    second = tab_generate.write_pack_zip(paths[:2], out, name, "kit")  # an earlier pack is never replaced
    assert second == out / "kit_pack_s7-2.zip" and zipfile.ZipFile(first).namelist()[-1] == "kit_003.wav"
    assert sorted(os.listdir(out)) == ["kit_pack_s7-2.zip", "kit_pack_s7.zip"]  # no temporary file left behind
    with pytest.raises(SdaError, match="nothing to put"):
        tab_generate.write_pack_zip([], out, name, "kit")
    assert tab_generate.pack_name("my kit/../x", None) == "my-kit-..-x_pack"


def test_a_failed_zip_leaves_no_half_written_file(tmp_path: Path) -> None:
    out = tmp_path / "packs"
    with pytest.raises(FileNotFoundError):
        tab_generate.write_pack_zip([tmp_path / "gone.wav"], out, "kit_pack", "kit")
    assert list(out.iterdir()) == []


def test_only_several_one_shots_are_a_pack(tmp_path: Path) -> None:
    paths = _shots(tmp_path / "h", 2)
    shot = lambda p: SimpleNamespace(path=p, model="kit", seed=0, notes={"form": {"form": "oneshot"}})  # noqa: E731
    texture = SimpleNamespace(path=paths[0], model="kit", seed=0, notes={})
    assert tab_generate.is_pack([shot(p) for p in paths])
    assert not tab_generate.is_pack([shot(paths[0])]) and not tab_generate.is_pack([texture, texture])
    state = AppState(tmp_path / "home", device="cpu")
    html, zipped = tab_generate.pack_outputs(state, [shot(p) for p in paths])
    assert zipped is not None and Path(zipped).parent == state.home.root / "exports" / "packs"
    assert html.count("<audio") == 2 and "kit_001.wav" in html and "kit_002.wav" in html
    assert tab_generate.pack_outputs(state, [texture]) == ("", None)


def test_reconstructions_sit_under_their_originals() -> None:
    html = tab_library.reconstruction_html([("/h/datasets/d/snare.wav", "/h/reconstructions/m/1/snare.wav")])
    assert html.count("<audio") == 2 and "snare.wav" in html and "as the model hears it" in html
    assert html.index("/h/datasets/d/snare.wav") < html.index("/h/reconstructions/m/1/snare.wav")


# -- with a tiny one-shot model ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def oneshot_model(tmp_path_factory: pytest.TempPathFactory) -> AppState:
    """A tiny RVQ model made to generate one-shots (a few training steps, form forced)."""
    from sda_audio.demo import make_demo_dataset
    from sda_engine import TrainOptions, plan_training, run_training
    from sda_gradio import tab_data

    root = tmp_path_factory.mktemp("oneshots")
    state = AppState(root / "home", device="cpu")
    files = make_demo_dataset(root / "rec", names=["pluck_dry", "pluck_reverb", "bell_high", "bell_low", "pulse_fast"])
    tab_data.import_files(state, [str(p) for p in files], "", "hits")
    options = TrainOptions(name="hits", dataset=str(state.home.dataset_dir("hits")), kind="rvq", size="tiny", steps=4,
                           prior_steps=2, eval_every=2, checkpoint_every=2, batch_size=2, device="cpu",
                           controls=False, form="oneshot")
    run_training(plan_training(options, state.home), home=state.home)
    return state


def test_a_one_shot_model_offers_its_forms_and_makes_a_pack(oneshot_model: AppState) -> None:
    state = oneshot_model
    section = tab_generate.model_form(state, "hits")
    assert section is not None and section["form"] == "oneshot"
    assert tab_generate.form_choices(section)[0][0] == "auto (its own: one-shots)"
    values = tab_generate.form_values(GenerationRequest().replace(variations=3, seed=2, channels="mono"))
    *_, (text, audio, paths) = tab_generate.run_generation(state, "hits", values, poll=0.05)
    assert "Generated 3 file(s)" in text and "sample pack of 3 one-shot(s)" in text and audio == paths[0]
    assert "each one of your own hits reshaped towards a neighbour" in text and text.count(" towards your ") == 3
    results = list(state.generate.snapshot().result)
    html, zipped = tab_generate.pack_outputs(state, results)
    assert html.count("<audio") == 3 and zipped is not None
    assert zipfile.ZipFile(zipped).namelist() == ["hits_001.wav", "hits_002.wav", "hits_003.wav"]


def test_hearing_training_files_and_an_upload_as_the_model_does(oneshot_model: AppState, tmp_path: Path) -> None:
    state = oneshot_model
    files = tab_library.training_files(state, "hits")
    assert [name for name, _ in files] == ["bell_high.wav", "bell_low.wav", "pluck_dry.wav", "pluck_reverb.wav", "pulse_fast.wav"]
    upload = _shots(tmp_path / "up", 1)[0]
    *_, (text, html) = tab_library.run_reconstruction(state, "hits", [files[2][1]], [str(upload)], poll=0.05)
    assert "2 recording(s) as 'hits' hears them" in text, text
    assert html.count("<audio") == 4 and "pluck_dry.wav" in html and upload.name in html
    made = sorted(p.name for p in (state.home.root / "reconstructions" / "hits").glob("*/*.wav"))
    assert made == sorted(["pluck_dry.wav", upload.name])
    with pytest.raises(SdaError, match="choose some recordings"):
        list(tab_library.run_reconstruction(state, "hits", [], None))
    with pytest.raises(SdaError, match="choose a model"):
        list(tab_library.run_reconstruction(state, "", [files[0][1]], None))
    assert tab_library.training_files(state, None) == []
