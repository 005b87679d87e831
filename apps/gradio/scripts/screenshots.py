"""Screenshots of every tab of the sda app into docs/gui/ (Playwright driving Debian's Chromium).

Builds a throw-away sda home with the demo dataset, trains a tiny model through the app's own worker (so the
Train tab shows real curves), generates two sounds, serves the app on 127.0.0.1 and photographs each tab.

    uv run --no-sync python apps/gradio/scripts/screenshots.py [--out docs/gui] [--steps 60]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(home: Path, steps: int) -> object:
    """The app state with a dataset, a trained tiny model and two generations."""
    from sda_audio.demo import make_demo_dataset
    from sda_gradio import tab_data, tab_generate, tab_train
    from sda_gradio.state import AppState

    state = AppState(home, device="cpu")
    demo = make_demo_dataset(home.parent / "demo-recordings")
    tab_data.import_files(state, [str(p) for p in demo], "", "demo")
    from sda_control.fit import ControlFitConfig
    from sda_engine.generate.request import GenerationRequest

    form = tab_train.TrainForm(dataset="demo", name="demo-rvq", kind="rvq", size="tiny", steps=steps,
                               prior_steps=max(steps // 2, 4), checkpoint_every=max(steps // 4, 2),
                               eval_every=max(steps // 6, 2), batch_size=4, controls=False)
    tab_train.start_training(state, form)
    snap = state.train.wait()
    assert snap.status == "done", snap.error
    helper = AppState(home, device="cpu")  # its own worker: the Train tab keeps showing the training run
    tab_train.start_fit_controls(helper, "demo-rvq", ControlFitConfig(max_windows_per_file=4, check_windows=2))
    fitted = helper.train.wait()
    assert fitted.status == "done", fitted.error
    values = tab_generate.form_values(GenerationRequest().replace(duration=8.0, seed=1, variations=2, temperature=0.9,
                                                                  controls={"brightness": 0.4}))
    for _ in tab_generate.run_generation(state, "demo-rvq", values):
        pass
    return state


def shoot(url: str, out: Path, recording: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("tab", name="Data", exact=True).wait_for()
        for tab in ("Data", "Train", "Generate", "Codes", "Library", "History"):
            page.get_by_role("tab", name=tab, exact=True).click()
            if tab == "Data":
                page.locator("#data-datasets input").fill("demo")
                page.keyboard.press("Enter")
                page.locator("#data-check").click()
                page.locator("#data-report").get_by_text("Ready to train").wait_for(timeout=60_000)
            if tab == "Train":
                page.locator("#train-status").get_by_text("Finished").wait_for(timeout=30_000)
            if tab == "Generate":
                page.locator("#gen-model-info").get_by_text("RVQ model").wait_for(timeout=30_000)
                box = page.locator("#gen-duration input").first
                box.fill("8")
                box.press("Tab")
                slider = page.locator("#gen-control-warmth input").first
                slider.fill("0.3")
                slider.press("Tab")
                page.locator("#gen-run").click()
                page.locator("#gen-status").get_by_text("Generated 1 file").wait_for(timeout=120_000)
            if tab == "Codes":
                page.locator("#codes-model input").click()
                page.get_by_role("option", name="demo-rvq", exact=True).click()
                page.locator("#codes-file input[type=file]").set_input_files(str(recording))
                page.locator("#codes-file").get_by_text("bell_low").wait_for(timeout=30_000)
                page.locator("#codes-encode").click()
                page.locator("#codes-about").get_by_text("levels x").wait_for(timeout=120_000)
                picture = page.locator("#codes-grid img")
                box = picture.bounding_box()
                picture.click(position={"x": box["width"] * 0.4, "y": box["height"] * 0.6})
                page.locator("#codes-about").get_by_text("Selected: level").wait_for(timeout=30_000)
            if tab == "History":
                page.locator("#hist-entry input").fill("1")
                page.locator("#hist-show").click()
                page.locator("#hist-summary").get_by_text("#1").wait_for(timeout=30_000)
            time.sleep(1.5)
            path = out / f"{tab.lower()}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path)
        browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/gui"))
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="sda-shots-") as tmp:
        state = prepare(Path(tmp) / "home", args.steps)
        from sda_gradio.app import build_app, serve

        port = free_port()
        app = serve(build_app(state=state), port, block=False, quiet=True)
        try:
            recording = Path(tmp) / "demo-recordings" / "bell_low.wav"
            for path in shoot(f"http://127.0.0.1:{port}/", args.out, recording):
                print(path)
        finally:
            app.close()


if __name__ == "__main__":
    main()
