"""History in words, A/B, the Codes box, the Data tab's names, repair and player, broken library files, the
Host check and ``sda gui``'s "ready" (handlers and the served app, no browser and no training)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from sda_audio.errors import SdaError
from sda_engine import GenerationRequest, History
from sda_engine.store.history import HistoryRecord
from sda_gradio import tab_data, tab_history, tab_library
from sda_gradio.state import AppState
from sda_gradio.words import ab_words, controls_words, entry_words

pytestmark = [pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]


def _tone(path: Path, seconds: float = 1.0, freq: float = 220.0, amp: float = 0.3) -> Path:
    t = np.arange(int(44100 * seconds)) / 44100
    sf.write(path, (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), 44100, subtype="FLOAT")
    return path


def record(state: AppState, name: str, request: Any, seed: int | None, extra: dict[str, Any] | None = None,
           model: str = "demo") -> Any:
    """A history entry as the engine's writer makes it: audio, sidecar (``metadata.parameters``), row."""
    folder = state.home.history_dir / "t"
    folder.mkdir(parents=True, exist_ok=True)
    audio = _tone(folder / f"{name}.wav", freq=220.0 + 50 * len(name))
    sidecar = audio.with_name(audio.name + ".json")
    one = request.with_seed(seed) if seed is not None else request
    sidecar.write_text(json.dumps({"metadata": {"request": one.to_dict(), "parameters": dict(extra or {})}}))
    params = {**one.to_dict(), "run": {"variation": 1, "variations": 1, "device": "cpu", "blend": []}}
    return History(state.home).record(HistoryRecord(model, "0" * 64, params, seed, audio, sidecar, vocoder="corpus",
                                                    vocoder_reason="the model's own recordings", duration=1.0,
                                                    sample_rate=44100))


@pytest.fixture
def state(tmp_path: Path) -> AppState:
    return AppState(tmp_path / "home", device="cpu")


@pytest.fixture
def entries(state: AppState) -> tuple[Any, Any, Any]:
    plain = record(state, "a", GenerationRequest().replace(duration=1.0, channels="mono"), seed=4)
    moved = record(state, "b", GenerationRequest().replace(duration=1.0, channels="mono",
                                                           controls={"brightness": 0.85, "density": -0.3}), seed=9)
    grid = record(state, "c", GenerationRequest().replace(duration=1.0, channels="mono"), seed=None,
                  extra={"code_grid": {"source": "x.wav", "edits_applied": 2}})
    return plain, moved, grid


# -- History ---------------------------------------------------------------------------------------
def test_history_says_seed_model_controls_and_kind_in_words(state: AppState, entries: tuple[Any, ...]) -> None:
    plain, moved, grid = entries
    assert controls_words({"brightness": 0.6, "density": -0.3}) == "brighter +0.6, sparser -0.3"
    rows = {row[0]: row for row in tab_history.table(state)}
    assert rows[plain.id][2:6] == ["demo", 4, "generation", "no control moved (the model's own character)"]
    assert rows[moved.id][3] == 9 and "brighter +0.85" in rows[moved.id][5] and "sparser -0.3" in rows[moved.id][5]
    assert rows[grid.id][3] == "no seed" and rows[grid.id][4] == "from the code editor"
    captions = [caption for _, caption in tab_history.gallery(state)]
    assert any("from the code editor" in c for c in captions) and not any("None" in c for c in captions)
    assert any(f"#{moved.id} demo · seed 9 · brighter +0.85" in c for c in captions)
    text, path, settings = tab_history.show(state, moved.id)
    assert "seed 9" in text and "demo" in text and Path(path or "").is_file() and "**Seed**: 9" in settings
    for shown in (text, settings):
        assert "None" not in shown and "{" not in shown and "params." not in shown
    assert "brighter +0.85" in settings and "1 s mono WAV" in settings
    text, _, settings = tab_history.show(state, grid.id)
    assert "from the code editor" in text and "no seed" in text and "None" not in text + settings


def test_ab_says_how_b_differs_and_switches_one_player(state: AppState, entries: tuple[Any, ...]) -> None:
    plain, moved, _ = entries
    lines = ab_words(plain, moved)
    assert "B is brighter: brightness 0 → 0.85." in lines and "B is sparser: density 0 → -0.3." in lines
    assert "Different seed (another take): A 4, B 9." in lines
    text, a, b = tab_history.ab(state, plain.id, moved.id)
    assert "B is brighter: brightness 0 → 0.85" in text and "None" not in text and "params." not in text
    player = tab_history.ab_player(a, b)
    assert player.count("<audio") == 1 and "Switch to B" in player and "currentTime" in player
    assert tab_history.file_url(a) in player and tab_history.file_url(b) in player
    same = ab_words(plain, plain)
    assert same == []


def test_entry_words_of_an_old_row_without_a_request(state: AppState) -> None:
    state.home.root.mkdir(parents=True, exist_ok=True)
    audio = _tone(state.home.root / "old.wav")
    entry = History(state.home).record(HistoryRecord("old", None, {"seed": 3, "duration": 1.0, "sliders": {}}, 3,
                                                     audio))
    words = entry_words(entry)
    assert words.seed == 3 and words.kind == "generation" and "None" not in words.caption()


# -- Codes -----------------------------------------------------------------------------------------
def test_the_code_box_shows_the_selected_cells_code() -> None:
    import torch

    from sda_gradio.tab_codes import CodesView, selected_code

    class Grid:
        codes = torch.tensor([[60, 3, 5], [7, 8, 9]])

    assert selected_code(CodesView()) is None
    assert selected_code(CodesView(grid=Grid())) == 60
    assert selected_code(CodesView(grid=Grid(), level=1, frame=2)) == 9


# -- Data ------------------------------------------------------------------------------------------
def test_the_dataset_name_rule_is_shown_not_applied_silently(state: AppState, tmp_path: Path) -> None:
    wav = _tone(tmp_path / "one.wav")
    with pytest.raises(SdaError) as err:
        tab_data.import_files(state, [str(wav)], "", " my sounds ")
    assert "'my sounds'" in str(err.value)  # the rule's message suggests the trimmed name
    assert state.dataset_names() == []
    with pytest.raises(SdaError, match="needs a name"):
        tab_data.import_files(state, [str(wav)], "", "   ")


def test_repair_checkbox_imports_non_finite_files_as_repaired_copies(state: AppState, tmp_path: Path) -> None:
    good = [_tone(tmp_path / f"g{i}.wav", freq=200.0 + 40 * i) for i in range(2)]
    bad = tmp_path / "nan.wav"
    samples = (0.3 * np.sin(np.arange(44100) / 10)).astype(np.float32)
    samples[100:110] = np.nan
    sf.write(bad, samples, 44100, subtype="FLOAT")
    text, _ = tab_data.import_files(state, [str(p) for p in [*good, bad]], "", "plain")
    assert "Rejected 1 file(s)" in text and "Set NaN/infinite samples to 0 (repair)" in text
    text, name = tab_data.import_files(state, [str(p) for p in [*good, bad]], "", "fixed", True)
    assert "Imported 3 file(s)" in text and "Rejected" not in text
    listed = tab_data.files(state, name)
    assert len(listed) == 3 and all(Path(path).is_file() for _, path in listed)
    assert np.isfinite(sf.read(bad)[0]).sum() < 44100  # the original is untouched


# -- Library ---------------------------------------------------------------------------------------
def test_a_broken_model_file_is_listed_with_its_reason(state: AppState) -> None:
    state.home.models_dir.mkdir(parents=True, exist_ok=True)
    (state.home.models_dir / "bad.sda").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}not a model")
    rows = tab_library.table(state)
    assert [r[:2] for r in rows] == [["bad.sda", "BROKEN"]] and rows[0][6]
    assert "cannot be used" in tab_library.broken_markdown(state) and "bad.sda" in tab_library.broken_markdown(state)


# -- serving ---------------------------------------------------------------------------------------
def _get(port: int, host: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_requests_naming_another_host_are_refused(state: AppState, free_port: Callable[[], int]) -> None:
    from sda_gradio.app import build_app, serve
    from sda_gradio.serving import wait_until_ready

    port = free_port()
    app = serve(build_app(state=state), port, block=False, quiet=True)
    try:
        assert wait_until_ready(f"http://127.0.0.1:{port}/", timeout=30)
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1:1", "localhost.evil.example"):
            status, body = _get(port, host)
            assert status == 421 and "answers only to" in body and "<" not in body, host
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert _get(port, host)[0] == 200, host
    finally:
        app.close()


def test_sda_gui_says_ready_only_once_the_page_answers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     free_port: Callable[[], int]) -> None:
    import gradio as gr
    from typer.testing import CliRunner

    from sda_cli.main import app as cli
    from sda_gradio.serving import page_answers

    monkeypatch.setenv("SDA_HOME", str(tmp_path / "home"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    opened: list[tuple[str, bool]] = []
    monkeypatch.setattr("webbrowser.open", lambda u, *a, **k: opened.append((u, page_answers(u))) or True)
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: self.close())  # stop instead of waiting for Ctrl-C
    result = CliRunner().invoke(cli, ["gui", "--port", str(port), "--device", "cpu", "--open"])
    assert result.exit_code == 0, result.output
    assert f"ready: {url}" in result.output
    assert result.output.index("Starting") < result.output.index("ready:")
    assert opened == [(url, True)]  # the browser was opened once the page answered, not before


def test_feeding_into_a_badly_named_dataset_shows_the_rule(state: AppState, entries: tuple[Any, ...]) -> None:
    with pytest.raises(SdaError) as err:
        tab_history.feed(state, str(entries[0].id), "favourites ")
    assert "'favourites'" in str(err.value) and state.dataset_names() == []
