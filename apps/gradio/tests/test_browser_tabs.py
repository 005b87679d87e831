"""The History, Codes and Data tabs in Debian's Chromium (Playwright), and the Host check of the served app.

No training: history entries are written as the engine's writer writes them, and the Codes tab gets a small
code grid through its encode handler (the app runs in this process), so the whole file takes well under a
minute and a half. Skipped, with the reason, where /usr/bin/chromium is missing.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf


def _tab(page: Any, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def _fill(page: Any, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    box.fill(value)
    box.press("Tab")


def _tone(path: Path, seconds: float = 1.0, freq: float = 220.0) -> Path:
    t = np.arange(int(44100 * seconds)) / 44100
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 44100, subtype="FLOAT")
    return path


def record(state: Any, name: str, request: Any, seed: int | None, extra: dict[str, Any] | None = None) -> Any:
    """A history entry as the engine's writer makes it: audio, sidecar (``metadata.parameters``), row."""
    from sda_engine import History
    from sda_engine.store.history import HistoryRecord

    folder = state.home.history_dir / "t"
    folder.mkdir(parents=True, exist_ok=True)
    audio = _tone(folder / f"{name}.wav", freq=220.0 + 50 * len(name))
    sidecar = audio.with_name(audio.name + ".json")
    one = request.with_seed(seed) if seed is not None else request
    sidecar.write_text(json.dumps({"metadata": {"request": one.to_dict(), "parameters": dict(extra or {})}}))
    params = {**one.to_dict(), "run": {"variation": 1, "variations": 1, "device": "cpu", "blend": []}}
    return History(state.home).record(HistoryRecord("demo", "0" * 64, params, seed, audio, sidecar,
                                                    vocoder="corpus", duration=1.0, sample_rate=44100))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, serve_app: Any) -> tuple[str, int, Any]:
    from sda_gradio.app import build_app

    home = tmp_path_factory.mktemp("browser-tabs") / "home"
    url, port, app = serve_app(build_app(home, device="cpu"))
    return url, port, app.sda_state


@pytest.fixture(scope="module")
def page(served: tuple[str, int, Any], open_page: Any) -> Any:
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    return open_page(served[0], 1400, 1000, timeout=20_000)


def test_history_in_words_and_the_ab_switch(page: Any, served: tuple[str, int, Any]) -> None:
    from playwright.sync_api import expect

    from sda_engine import GenerationRequest

    state = served[2]
    base = GenerationRequest().replace(duration=1.0, channels="mono")
    plain = record(state, "plain", base, seed=4)
    moved = record(state, "moved", base.replace(controls={"brightness": 0.85}), seed=9)
    record(state, "grid", base, seed=None, extra={"code_grid": {"source": "x.wav", "edits_applied": 1}})
    _tab(page, "History")
    table = page.locator("#hist-table")
    expect(table).to_contain_text("from the code editor")
    expect(table).to_contain_text("brighter +0.85")
    thumbs = page.locator("#hist-thumbs")
    expect(thumbs).to_contain_text("seed 9 · brighter +0.85")
    for shown in (table, thumbs):
        assert "None" not in shown.inner_text()
    _fill(page, "hist-entry", str(moved.id))
    page.locator("#hist-show").click()
    expect(page.locator("#hist-summary")).to_contain_text("seed 9")
    settings = page.locator("#hist-params")
    expect(settings).to_contain_text("brighter +0.85")
    assert "{" not in settings.inner_text() and "None" not in settings.inner_text()

    page.get_by_text("A/B at matched loudness").click()
    _fill(page, "hist-a", str(plain.id))
    _fill(page, "hist-b", str(moved.id))
    page.locator("#hist-ab").click()
    expect(page.locator("#hist-ab-text")).to_contain_text("B is brighter: brightness 0 → 0.85")
    audio = page.locator("#hist-ab-player audio")
    expect(audio).to_have_count(1)
    expect(audio).to_have_attribute("src", f"/gradio_api/file={_quoted(state, plain.id, moved.id, 'a')}")
    page.wait_for_function("() => document.querySelector('#hist-ab-player audio').readyState >= 1")
    page.evaluate("() => { document.querySelector('#hist-ab-player audio').currentTime = 0.5; }")
    switch = page.locator("#hist-ab-player .sda-ab-switch")
    switch.click()
    expect(page.locator("#hist-ab-player .sda-ab-now")).to_have_text("Now: B")
    expect(switch).to_have_text("Switch to A")
    assert page.locator("#hist-ab-player audio").get_attribute("src", timeout=5_000).endswith("_b.wav")
    page.wait_for_function("() => Math.abs(document.querySelector('#hist-ab-player audio').currentTime - 0.5) < 0.05")
    body = page.evaluate("async (src) => (await fetch(src)).status", audio.get_attribute("src"))
    assert body in (200, 206)  # the B copy is served


def _quoted(state: Any, a: int, b: int, which: str) -> str:
    from urllib.parse import quote

    return quote(str(state.home.ab_dir / f"ab_{a}_{b}_{which}.wav"))


@dataclass
class _Model:
    name: str = "fake"
    codebook_size: int = 64


@dataclass
class _Grid:
    """Enough of the engine's code grid for the tab to draw and describe it."""

    codes: Any
    model: _Model = field(default_factory=_Model)
    labels: tuple[str, ...] = ("Structure", "Detail")
    edits: list[Any] = field(default_factory=list)
    position: int = 0
    frame_seconds: float = 0.1
    source: str = "x.wav"

    @property
    def levels(self) -> int:
        return int(self.codes.shape[0])

    @property
    def frames(self) -> int:
        return int(self.codes.shape[1])

    @property
    def seconds(self) -> float:
        return self.frames * self.frame_seconds


def test_the_code_box_matches_the_selected_cell(page: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torch
    from playwright.sync_api import expect

    from sda_gradio import tab_codes

    codes = torch.tensor([[60] + [10 + i for i in range(9)], [40 + i for i in range(10)]])
    monkeypatch.setattr(tab_codes, "encode",
                        lambda state, model, file: tab_codes.CodesView(model="fake", grid=_Grid(codes)))
    _tab(page, "Codes")
    page.locator("#codes-file input[type=file]").set_input_files(str(_tone(tmp_path / "rec.wav")))
    expect(page.locator("#codes-file")).to_contain_text("rec")
    page.locator("#codes-encode").click()
    expect(page.locator("#codes-about")).to_contain_text("Selected: level 1")
    box = page.locator("#codes-index input")
    expect(box).to_have_value("60")  # cell (level 1, frame 0) is selected after encoding
    picture = page.locator("#codes-grid img")
    size = picture.bounding_box()
    picture.click(position={"x": size["width"] * 7.5 / 10, "y": size["height"] * 0.75})  # level 2, frame 7
    expect(page.locator("#codes-about")).to_contain_text("level 2")
    expect(page.locator("#codes-about")).to_contain_text("code 47")
    expect(box).to_have_value("47")


def test_the_data_tab_plays_the_files_and_shows_the_whole_waveforms(page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    folder = tmp_path / "recs"
    folder.mkdir()
    for i in range(3):
        _tone(folder / f"tone{i}.wav", seconds=1.0, freq=200.0 + 100 * i)
    _tab(page, "Data")
    _fill(page, "data-folder", str(folder))
    page.locator("#data-name input, #data-name textarea").first.fill("tones")
    page.locator("#data-import").click()
    expect(page.locator("#data-status")).to_contain_text("Imported 3 file(s)")
    expect(page.locator("#data-thumbs img")).to_have_count(3)
    player = page.locator("#data-player audio[src]")
    expect(player).to_have_count(1)
    listen = page.locator("#data-listen input")
    expect(listen).to_have_value("tone0.wav")
    first = player.get_attribute("src")
    page.locator("#data-thumbs .thumbnail-item").nth(2).click()
    expect(listen).to_have_value("tone2.wav")  # clicking a waveform plays that file
    expect(page.locator("#data-player audio[src]")).not_to_have_attribute("src", first or "")
    for i in range(3):  # each caption sits under its waveform, covering none of it
        item = page.locator("#data-thumbs .thumbnail-item").nth(i)
        img, caption = item.locator("img").bounding_box(), item.locator(".caption-label").bounding_box()
        assert caption["y"] >= img["y"] + img["height"] - 1, (img, caption)
    _fill(page, "data-name", " spaced ")
    page.locator("#data-import").click()
    expect(page.locator("#data-status")).to_contain_text("'spaced'")


def test_a_request_naming_another_host_is_refused(served: tuple[str, int, Any]) -> None:
    port = served[1]
    for host, status in (("evil.example", 421), (f"evil.example:{port}", 421), (f"127.0.0.1:{port}", 200)):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/", headers={"Host": host})
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            conn.close()
        assert response.status == status, host
        if status == 421:
            assert text.startswith("Refused") and f"http://127.0.0.1:{port}/" in text
