"""The app's handlers without a browser: jobs, errors, data import/validation, the generation form, training
through the worker, generation with a warm model, presets, history and the library."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sda_audio.errors import Cancelled, SdaError
from sda_audio.progress import ProgressEvent
from sda_engine.generate.request import GenerationRequest
from sda_gradio import tab_data, tab_generate, tab_history, tab_library, tab_train
from sda_gradio.jobs import JobRunner
from sda_gradio.messages import error_markdown, error_text
from sda_gradio.state import AppState

FAST_TRAIN = dict(kind="rvq", size="tiny", steps=4, prior_steps=2, checkpoint_every=2, eval_every=2, batch_size=2,
                  controls=False)  # the controls are fitted (quickly) by their own test


# -- messages and jobs -----------------------------------------------------------------------------
def test_errors_read_as_words_with_the_apps_own_remedy() -> None:
    err = SdaError("a model named 'x' already exists", path="/lib/x.sda", hint="choose another name",
                   action="overwrite")
    text = error_text(err)
    assert "/lib/x.sda" in text and "choose another name" in text and "Replace an existing one" in text
    assert "--overwrite" not in text
    assert "Traceback" not in error_text(ZeroDivisionError("division by zero"))
    assert "internal error (ZeroDivisionError" in error_text(ZeroDivisionError("division by zero"))
    assert error_markdown(Cancelled("stopped", action="resume")).startswith("**Cancelled:**")
    assert "Resume" in error_text(Cancelled("stopped", action="resume"))


def test_job_runner_collects_events_and_cancels() -> None:
    runner = JobRunner("t")
    started = threading.Event()

    def job(on_event, cancel):  # noqa: ANN001
        on_event(ProgressEvent("train.autoencoder", "start", 0, 10, "training"))
        on_event(ProgressEvent("train.autoencoder", "progress", 1, 10, metrics={"loss": 2.0, "eta_seconds": 9.0}))
        on_event(ProgressEvent("train.autoencoder", "metrics", 1, 10, metrics={"val_loss": 2.5},
                               data={"codebook_health": [{"level": 0, "utilisation": 0.5, "perplexity": 3.0,
                                                          "dead_codes": 1}]}))
        on_event(ProgressEvent("train.autoencoder", "preview", 1, 10, data={"path": "/tmp/p.wav"}))
        started.set()
        while True:
            cancel.raise_if_cancelled("autoencoder training")
            time.sleep(0.01)

    runner.start("training 'x'", job)
    assert started.wait(10)
    with pytest.raises(SdaError, match="still running"):
        runner.start("again", job)
    snap = runner.snapshot()
    assert snap.running and snap.stages["train.autoencoder"].eta_seconds == 9.0
    assert [(p["series"], p["loss"]) for p in snap.curve] == [("train", 2.0), ("validation", 2.5)]
    assert snap.health[0]["dead_codes"] == 1 and snap.previews == ["/tmp/p.wav"]
    assert runner.cancel()
    final = runner.wait(10)
    assert final.status == "cancelled" and "was cancelled" in final.error
    assert "Cancelled" in tab_train.status_markdown(final)
    assert list(tab_train.curve_frame(final, "autoencoder")["loss"]) == [2.0, 2.5]
    assert "| 0 | 50% |" in tab_train.health_markdown(final)


def test_a_crashing_job_is_reported_not_raised() -> None:
    runner = JobRunner("t")
    runner.start("boom", lambda on_event, cancel: 1 / 0)
    snap = runner.wait(10)
    assert snap.status == "failed" and "internal error" in snap.error and not runner.snapshot().running


# -- data ------------------------------------------------------------------------------------------
@pytest.fixture
def recordings(tmp_path: Path) -> list[Path]:
    from sda_audio.demo import make_demo_dataset

    paths = make_demo_dataset(tmp_path / "rec", names=["drone_low", "bell_high", "wind_dark", "pulse_slow",
                                                        "pluck_dry", "chord_consonant"])
    broken = tmp_path / "rec" / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    return [*paths, broken]


def test_import_names_the_corrupt_file_and_keeps_the_rest(tmp_path: Path, recordings: list[Path]) -> None:
    state = AppState(tmp_path / "home")
    text, name = tab_data.import_files(state, [str(p) for p in recordings], "", "field")
    assert name == "field" and "Imported 6 file(s)" in text
    assert "Rejected 1 file(s)" in text and "broken.wav" in text
    report = tab_data.validation_markdown(state, "field")
    assert report.startswith("**Ready to train** on 6 file(s)")
    summary, gallery = tab_data.summary(state, "field")
    assert "6 file(s)" in summary and len(gallery) == 6 and all(Path(png).is_file() for png, _ in gallery)
    assert state.dataset_names() == ["field"]


def test_validation_names_every_problem_file(tmp_path: Path) -> None:
    state = AppState(tmp_path / "home")
    folder = state.home.dataset_dir("bad")
    folder.mkdir(parents=True)
    sf.write(folder / "quiet.wav", np.zeros(44100, dtype=np.float32), 44100)
    (folder / "notes.txt").write_text("not audio")
    report = tab_data.validation_markdown(state, "bad")
    assert report.startswith("**Not ready to train**")
    assert "quiet.wav" in report and "notes.txt" in report


def test_import_needs_a_name_and_something_to_import(tmp_path: Path) -> None:
    state = AppState(tmp_path / "home")
    with pytest.raises(SdaError, match="needs a name"):
        tab_data.import_files(state, [], "", " ")
    with pytest.raises(SdaError, match="nothing to import"):
        tab_data.import_files(state, None, "", "x")
    with pytest.raises(SdaError, match="folder not found"):
        tab_data.import_files(state, None, str(tmp_path / "nowhere"), "x")


# -- the generation form ---------------------------------------------------------------------------
def test_form_round_trips_a_request() -> None:
    request = GenerationRequest().replace(duration=3.5, seed=7, variations=2, temperature=0.8, top_k=20,
                                          channels="binaural", azimuth=-40.0, format="flac", bit_depth=16,
                                          controls={"brightness": 0.5, "reverb": -0.25})
    values = tab_generate.form_values(request)
    assert len(values) == len(tab_generate.FORM_FIELDS)
    again = tab_generate.request_from_form(values)
    assert again.to_dict() == request.to_dict()


def test_bad_form_values_are_readable_errors() -> None:
    values = tab_generate.form_values(GenerationRequest())
    at = tab_generate.FORM_FIELDS.index
    zero = list(values)
    zero[at("duration")] = 0
    with pytest.raises(SdaError, match="cannot generate 0"):
        tab_generate.request_from_form(zero)
    empty = list(values)
    empty[at("seed")] = None
    with pytest.raises(SdaError, match="seed is empty"):
        tab_generate.request_from_form(empty)
    fraction = list(values)
    fraction[at("variations")] = 1.5
    with pytest.raises(SdaError, match="whole number"):
        tab_generate.request_from_form(fraction)


# -- with a trained model --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> AppState:
    """A tiny RVQ model trained through the Train tab's worker (a few steps)."""
    from sda_audio.demo import make_demo_dataset

    root = tmp_path_factory.mktemp("gui")
    state = AppState(root / "home", device="cpu")
    files = make_demo_dataset(root / "rec", names=["drone_low", "bell_high", "wind_dark", "pulse_slow",
                                                    "pluck_dry", "chord_consonant"])
    tab_data.import_files(state, [str(p) for p in files], "", "demo")
    tab_train.start_training(state, tab_train.TrainForm(dataset="demo", name="tiny", **FAST_TRAIN))
    snap = state.train.wait(600)
    assert snap.status == "done", snap.error
    return state


def test_training_in_the_worker_draws_curves_and_says_where_the_model_is(trained: AppState) -> None:
    snap = trained.train.snapshot()
    frame = tab_train.curve_frame(snap, "autoencoder")
    assert {"train", "validation"} <= set(frame["series"]) and len(tab_train.curve_frame(snap, "prior")) > 0
    assert "tiny.sda" in tab_train.status_markdown(snap) and snap.health
    assert "**Verdict:** " in tab_train.status_markdown(snap)  # "Still improving: ..." or "Converged: ..."
    assert ("Still improving" in tab_train.status_markdown(snap)) != ("Converged" in tab_train.status_markdown(snap))
    assert any("checkpoint saved" in line for line in snap.log)
    tab_train.start_training(trained, tab_train.TrainForm(dataset="demo", name="tiny", **FAST_TRAIN))
    again = trained.train.wait(120)
    assert again.status == "failed" and "already exists" in again.error and "Replace an existing one" in again.error


def test_generation_streams_then_plays_a_file_of_the_right_length(trained: AppState) -> None:
    values = tab_generate.form_values(GenerationRequest().replace(duration=2.0, seed=3, variations=2,
                                                                  channels="mono", sample_rate=44100))
    frames = list(tab_generate.run_generation(trained, "tiny", values, poll=0.05))
    text, audio, paths = frames[-1]
    assert "Generated 2 file(s)" in text and "Vocoder:" in text and "because" in text
    assert len(paths) == 2 and audio == paths[0]
    info = sf.info(audio)
    assert info.samplerate == 44100 and info.channels == 1 and info.duration == pytest.approx(2.0, abs=0.02)
    *_, (_, _, again) = tab_generate.run_generation(trained, "tiny", values, poll=0.05)
    assert trained.opened == 1  # the model stayed warm between clicks
    assert len(again) == 2 and not set(again) & set(paths)  # the same settings again: new files, none replaced
    assert all(Path(p).is_file() for p in [*paths, *again])
    assert "RVQ model" in tab_generate.model_info(trained, "tiny")
    assert set(tab_generate.control_methods(trained, "tiny")) == set(tab_generate.CONTROL_NAMES)


def test_generation_errors_are_messages(trained: AppState) -> None:
    values = tab_generate.form_values(GenerationRequest().replace(duration=1.0))
    *_, (text, audio, paths) = tab_generate.run_generation(trained, "ghost", values, poll=0.05)
    assert text.startswith("**Error:**") and "ghost" in text and audio is None and paths == []
    with pytest.raises(SdaError, match="choose a model"):
        list(tab_generate.run_generation(trained, "", values))


def test_presets_save_and_load(trained: AppState) -> None:
    request = GenerationRequest().replace(duration=4.0, temperature=0.7, channels="mono")
    values = tab_generate.form_values(request)
    assert "Saved preset **calm**" in tab_generate.save_preset(trained, "calm", "tiny", values, False, False)
    with pytest.raises(SdaError, match="already exists"):
        tab_generate.save_preset(trained, "calm", "tiny", values, False, False)
    assert "calm" in tab_generate.preset_names(trained, "tiny")
    loaded = tab_generate.load_preset(trained, "calm", "tiny")
    assert tab_generate.request_from_form(loaded).to_dict() == request.to_dict()


def test_history_show_use_ab_and_feed(trained: AppState) -> None:
    values = tab_generate.form_values(GenerationRequest().replace(duration=1.5, seed=11, channels="mono"))
    *_, (_, audio, _) = tab_generate.run_generation(trained, "tiny", values, poll=0.05)
    rows = tab_history.table(trained)
    newest = rows[0][0]
    assert rows[0][2] == "tiny" and rows[0][3] == 11
    text, path, params = tab_history.show(trained, newest)
    assert f"#{newest}" in text and path == audio and "seed 11" in text and "**Seed**: 11" in params and "{" not in params
    model, form = tab_history.use_settings(trained, newest)
    assert model == "tiny" and tab_generate.request_from_form(form).seed == 11
    compared, a, b = tab_history.ab(trained, newest, rows[1][0])
    assert "LUFS" in compared and Path(a).is_file() and Path(b).is_file()
    assert tab_history.ab(trained, newest, rows[1][0])[1] == a  # the page compares the same pair again
    fed = tab_history.feed(trained, f"{newest}", "favourites")
    assert "Added 1 generation(s)" in fed and "favourites" in trained.dataset_names()
    assert tab_history.gallery(trained)
    with pytest.raises(SdaError, match="not a generation number"):
        tab_history.show(trained, "abc")


def test_library_tag_rename_export_import_delete(trained: AppState, tmp_path: Path) -> None:
    assert tab_library.table(trained)[0][0] == "tiny"
    assert "drone" in tab_library.set_tags(trained, "tiny", "drone, test", "")
    assert tab_library.table(trained, "drone")[0][0] == "tiny" and tab_library.table(trained, "nothing-like") == []
    text, files = tab_library.export(trained, "tiny")
    assert Path(files[0]).name == "tiny.sda"
    assert "Imported **copy**" in tab_library.import_files(trained, files, "copy", False)
    assert "Renamed" in tab_library.rename(trained, "copy", "copy2")
    with pytest.raises(SdaError, match="not deleted"):
        tab_library.delete(trained, "copy2", False)
    assert "Deleted" in tab_library.delete(trained, "copy2", True)
    assert trained.model_names() == ["tiny"]
    shown = tab_library.details(trained, "tiny")
    assert "own HiFi-GAN" in shown or "no vocoder" in shown
    assert "started from scratch" in shown or "started from sda's base model" in shown  # which start was used


def test_the_app_builds_with_every_tab(trained: AppState) -> None:
    from sda_gradio.app import TABS, build_app

    app = build_app(state=trained)
    labels = [block.label for block in app.blocks.values() if type(block).__name__ == "Tab"]
    assert labels == list(TABS)


def test_codes_encode_click_edit_undo_and_decode(trained: AppState, tmp_path: Path) -> None:
    from sda_audio.demo import make_demo_dataset
    from sda_gradio import tab_codes

    first, second = make_demo_dataset(tmp_path, names=["bell_low", "wind_bright"])
    view = tab_codes.encode(trained, "tiny", str(first))
    grid = view.grid
    picture = tab_codes.grid_picture(view)
    cw = tab_codes.cell_px(grid.frames)
    assert picture.shape == (grid.levels * tab_codes.ROW_PX, grid.frames * cw, 3)
    view = tab_codes.select(view, x=5 * cw + 1, y=tab_codes.ROW_PX + 3)  # a click on level 2, frame 5
    assert (view.level, view.frame) == (1, 5) and "frame 5" in tab_codes.describe(view)
    new_code = (int(grid.codes[1, 5]) + 1) % grid.model.codebook_size
    edited = tab_codes.set_cell(trained, view, new_code)
    assert int(edited.grid.codes[1, 5]) == new_code and "set level 2" in tab_codes.describe(edited)
    undone = tab_codes.undo_redo(edited, redo=False)
    assert undone.grid.codes.equal(grid.codes)
    assert tab_codes.undo_redo(undone, redo=True).grid.codes.equal(edited.grid.codes)
    with pytest.raises(SdaError, match="second recording"):
        tab_codes.swap(trained, view, 0.0, 0.5, None)
    both = tab_codes.encode_other(trained, view, str(second))
    swapped = tab_codes.swap(trained, both, 0.0, 0.5, ["Detail"])
    # level 0 stays the grid's own inside the region and beyond its seam (the seam's frames are crossfaded in the
    # embedding space and quantised again, which may move any level there)
    from sda_control.codes.edits import DEFAULT_SEAM_FRAMES
    from sda_engine import codes as engine_codes

    lo, hi = engine_codes.frame_range(grid, 0.0, 0.5)
    after = hi + DEFAULT_SEAM_FRAMES
    assert not swapped.grid.codes.equal(grid.codes)
    assert swapped.grid.codes[0, lo:hi].equal(grid.codes[0, lo:hi])
    assert swapped.grid.codes[0, after:].equal(grid.codes[0, after:])
    assert tab_codes.blend(trained, both, 0.5).grid.frames == grid.frames
    regenerated = tab_codes.regenerate(trained, view, 0.2, 0.6, None, 1.0, 3)
    assert regenerated.grid.position == 1
    text, path = tab_codes.decode(trained, edited)
    assert "Decoded" in text and sf.info(path).duration == pytest.approx(grid.seconds, abs=0.05)
    text, path = tab_codes.audition(trained, view, 1.0)
    assert f"code {int(grid.codes[1, 5])}" in text and Path(path).is_file()


def test_fitting_the_controls_makes_the_sliders_usable(trained: AppState) -> None:
    from sda_control.fit import ControlFitConfig

    quick = ControlFitConfig(window_seconds=1.0, max_windows_per_file=2, augmented_copies=0, check_windows=1,
                             check_gl_iters=2)
    tab_train.start_fit_controls(trained, "tiny", quick)
    snap = trained.train.wait(600)
    assert snap.status == "done", snap.error
    assert "sliders on the Generate tab" in tab_train.status_markdown(snap)
    methods = tab_generate.control_methods(trained, "tiny")
    assert all(m.endswith(("by the model", "as an effect")) for m in methods.values())
    assert "darker" in methods["brightness"] and "latent" not in " ".join(methods.values())
    values = tab_generate.form_values(GenerationRequest().replace(duration=1.0, channels="mono",
                                                                  controls={"brightness": 0.6, "density": -0.4}))
    *_, (text, audio, _) = tab_generate.run_generation(trained, "tiny", values, poll=0.05)
    assert "Generated 1 file(s)" in text and sf.info(audio).duration == pytest.approx(1.0, abs=0.02)

    from sda_engine.train.control_choice import SweepChoiceOptions

    tab_train.start_choose_controls(trained, "tiny", SweepChoiceOptions(positions=3, seeds=(0,), duration=0.5))
    snap = trained.train.wait(600)
    assert snap.status == "done", snap.error
    shown = tab_train.status_markdown(snap)
    assert "brightness" in shown and ("moves itself" in shown or "audio effect" in shown)
    assert "steered" in shown  # density: the model's own timing


def test_vocoder_training_has_its_own_curve_and_a_verdict(trained: AppState) -> None:
    from sda_models.vocoders.hifigan import TINY_HIFIGAN
    from sda_models.vocoders.hifigan_discriminators import TINY_DISCRIMINATORS
    from sda_models.vocoders.hifigan_training import HifiGanTrainingConfig

    tiny = HifiGanTrainingConfig(generator=TINY_HIFIGAN, discriminators=TINY_DISCRIMINATORS, warmup_steps=2)
    tab_train.start_vocoder(trained, "tiny", 10.0, max_steps=4, config=tiny)
    snap = trained.train.wait(600)
    assert snap.status == "done", snap.error
    assert len(tab_train.curve_frame(snap, "vocoder")) > 0
    assert snap.verdicts and "Griffin-Lim floor" in tab_train.status_markdown(snap)


def test_every_engine_action_has_a_gui_spelling() -> None:
    from sda_audio.errors import ACTIONS
    from sda_gradio.messages import GUI_ACTIONS

    assert set(GUI_ACTIONS) == set(ACTIONS)


def test_the_train_form_passes_the_regularisation_option_to_the_engine() -> None:
    from sda_engine import TrainOptions

    options = tab_train.TrainForm(dataset="demo", name="x", regularise_controls=True).options("/data/demo")
    assert isinstance(options, TrainOptions) and options.regularise_controls is True
    assert TrainOptions.from_dict(options.to_dict()) == options  # every field the form sends is an engine option
    assert tab_train.TrainForm(dataset="demo", name="x").options("/data/demo").regularise_controls is False


def test_the_train_form_says_where_training_starts() -> None:
    assert tab_train.TrainForm(dataset="demo", name="x").options("/data/demo").base is None  # the base where it helps
    scratch = tab_train.TrainForm(dataset="demo", name="x", start="scratch").options("/data/demo")
    assert scratch.base == "none"
    assert [value for _, value in tab_train.STARTS] == ["auto", "scratch"]


def test_the_train_form_builds_the_engines_options() -> None:
    form = tab_train.TrainForm(dataset="demo", name=" x ", kind="rvq", levels="3", codebook="256", minutes=2.0,
                               steps=0, prior_steps=40, batch_size=0)
    options = form.options("/data/demo", device="cpu")
    assert (options.name, options.dataset, options.rvq_levels, options.codebook_size) == ("x", "/data/demo", 3, 256)
    assert options.max_minutes == 2.0 and options.steps is None and options.prior_steps == 40  # 0: the size's own
    vae = tab_train.TrainForm(dataset="demo", name="x", kind="vae", levels="3", codebook="256")
    assert vae.options("/data/demo").rvq == {}  # RVQ settings are not sent for a VAE
    resumed = form.options(resume=True)
    assert resumed.resume and resumed.dataset is None and resumed.max_minutes == 2.0


def test_an_empty_curve_keeps_its_column_types_and_legend() -> None:
    from sda_gradio.jobs import JobState

    empty = tab_train.curve_frame(JobState(), "autoencoder")
    assert len(empty) == 0 and str(empty["series"].dtype) == "object" and str(empty["step"].dtype) == "int64"
    snap = JobState(curve=[{"stage": "prior", "step": 1, "series": "validation", "loss": 1.0},
                           {"stage": "prior", "step": 1, "series": "train", "loss": 2.0}])
    assert tab_train.curve_series(snap, "prior") == ("train", "validation")
    assert tab_train.curve_series(snap, "autoencoder") == ()


def test_negative_numbers_on_the_train_form_are_messages() -> None:
    with pytest.raises(SdaError, match="time budget cannot be negative"):
        tab_train.TrainForm(dataset="demo", name="x", minutes=-5).options("/data/demo")
    with pytest.raises(SdaError, match="batch size must be a number"):
        tab_train.TrainForm(dataset="demo", name="x", batch_size="lots").options("/data/demo")  # type: ignore[arg-type]


def test_a_resumed_run_starts_with_the_stored_curve(tmp_path: Path) -> None:
    import json

    state = AppState(tmp_path / "home", device="cpu")
    folder = state.home.checkpoint_dir("m")
    folder.mkdir(parents=True)
    history = [{"step": float(i), "loss": 1.0 / i} for i in range(1, 2001)]
    meta = {"step": 2000, "stage": "autoencoder", "loop": {"history": history,
                                                          "evals": [{"step": 1000.0, "val_loss": 0.5}]}}
    (folder / "autoencoder-00002000.json").write_text(json.dumps(meta))
    curve = tab_train.stored_curve(state, "m")
    train = [p for p in curve if p["series"] == "train"]
    assert 300 <= len(train) <= 401 and train[0]["step"] == 1 and train[-1]["step"] == 2000
    assert [p["step"] for p in curve if p["series"] == "validation"] == [1000]
    state.train.start("resuming", lambda on_event, cancel: None, curve=curve)
    assert state.train.wait(10).curve == curve
