"""The sda browser app: :func:`build_app` makes the page, :func:`launch` serves it on 127.0.0.1 only.

Tabs: Data, Train, Generate, Codes, Library, History. Long jobs (training, generation) run in worker
threads (:mod:`sda_gradio.jobs`) and the page polls them, so it never freezes; every handler's errors become
readable messages (:mod:`sda_gradio.messages`), never tracebacks.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from sda_engine import SdaHome
from sda_gradio.state import AppState

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
TABS = ("Data", "Train", "Generate", "Codes", "Library", "History")
CSS = """
#sda-title h1 { margin-bottom: 0; }
.sda-note { opacity: 0.8; }
.sda-waves .thumbnail-item { aspect-ratio: auto !important; height: auto !important; display: flex !important;
  flex-direction: column; }
.sda-waves .thumbnail-item > img { aspect-ratio: 5 / 1; height: auto !important; flex: none; }
.sda-waves .caption-label { position: static !important; max-width: 100% !important; width: 100%;
  border: none !important; border-top: 1px solid var(--border-color-primary) !important; border-radius: 0 !important;
  white-space: normal !important; }
.sda-waves .grid-container { grid-auto-rows: auto !important; grid-template-rows: none !important; }
.sda-ab { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
.sda-ab audio { flex: 1 1 320px; }
.sda-ab-switch { padding: 8px 16px; border-radius: 8px; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); cursor: pointer; font-weight: 600; }
.sda-players { display: flex; flex-direction: column; gap: 6px; }
.sda-player-row { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; padding: 4px 0;
  border-bottom: 1px solid var(--border-color-primary); }
.sda-player-title { flex: 0 0 180px; overflow-wrap: anywhere; }
.sda-player { display: flex; flex-direction: column; flex: 1 1 280px; }
.sda-player-caption { font-size: 0.85em; opacity: 0.8; }
.sda-player audio { width: 100%; }
"""


def build_app(home: SdaHome | str | Path | None = None, device: str = "auto", state: AppState | None = None) -> Any:
    """The app as a ``gr.Blocks`` (not yet served); ``app.sda_state`` is its :class:`AppState`."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from sda_gradio import tab_codes, tab_data, tab_generate, tab_history, tab_library, tab_train
    from sda_gradio.ui import guarded

    state = state or AppState(home, device)
    with gr.Blocks(title="sda: Small DataSet Audio", analytics_enabled=False) as app:
        gr.Markdown("# sda: Small DataSet Audio\nTrain a generative model on your own recordings, then make new "
                    "sound with it. Everything stays on this computer.", elem_id="sda-title")
        with gr.Tabs(elem_id="sda-tabs") as tabs:
            with gr.Tab("Data", id="data", elem_id="tab-data") as data_tab:
                data = tab_data.build(state)
            with gr.Tab("Train", id="train", elem_id="tab-train") as train_tab:
                train = tab_train.build(state, state.dataset_names())
            with gr.Tab("Generate", id="generate", elem_id="tab-generate") as gen_tab:
                gen = tab_generate.build(state)
            with gr.Tab("Codes", id="codes", elem_id="tab-codes") as codes_tab:
                codes = tab_codes.build(state)
            with gr.Tab("Library", id="library", elem_id="tab-library") as lib_tab:
                lib = tab_library.build(state)
            with gr.Tab("History", id="history", elem_id="tab-history") as hist_tab:
                hist = tab_history.build(state)

        # Each tab shows what other tabs (or other browser tabs) changed when it is opened.
        def datasets(current: str | None) -> Any:
            names = state.dataset_names()
            return gr.update(choices=names, value=current if current in names else (names[0] if names else None))

        def models(current: str | None) -> Any:
            names = state.model_names()
            return gr.update(choices=names, value=current if current in names else (names[0] if names else None))

        data_tab.select(guarded(datasets, 1, 0), [data["datasets"]], [data["datasets"]])
        train_tab.select(lambda d, m, f: (datasets(d), models(m), models(f)),
                         [train["dataset"], train["vocoder_model"], train["fit_model"]],
                         [train["dataset"], train["vocoder_model"], train["fit_model"]])
        gen_tab.select(guarded(gen["refresh"], 2, 0), [gen["model"]], [gen["model"], gen["blend_model"]]).then(
            gen["on_model"], gen["model_inputs"], gen["model_outputs"])  # its controls may have been fitted since
        codes_tab.select(guarded(models, 1, 0), [codes["model"]], [codes["model"]])
        lib_tab.select(guarded(lib["redraw"], 3, 2), [lib["search"], lib["pick"]], [lib["grid"], lib["pick"], lib["info"]])
        hist_tab.select(guarded(hist["redraw"], 2, 0), [hist["filter"]], [hist["grid"], hist["thumbs"]])

        app.load(gen["on_model"], gen["model_inputs"], gen["model_outputs"])

        def use_settings(entry: Any) -> tuple[Any, ...]:
            model, values = tab_history.use_settings(state, entry)
            names = state.model_names()
            if model not in names:
                status = (f"Settings of #{int(entry)} loaded; its model '{model}' is no longer in the library, so "
                          "choose another one.")
                model_update = gr.update(choices=names)
            else:
                status = f"Settings of generation #{int(entry)} loaded: press Generate to make it again."
                model_update = gr.update(choices=names, value=model)
            return ("", model_update, *values, status, gr.Tabs(selected="generate"))

        hist["use"].click(guarded(use_settings, 4 + len(gen["form"]), 0), [hist["entry"]],
                          [hist["status"], gen["model"], *gen["form"], gen["status"], tabs])
    app.sda_state = state  # pyright: ignore[reportAttributeAccessIssue]  (serve() reads it back)
    return app


def serve(app: Any, port: int = 7860, block: bool = True, quiet: bool = False, open_browser: bool = False) -> Any:
    """Serve a built app on ``http://127.0.0.1:<port>`` (never on other interfaces; a request whose ``Host`` is
    not 127.0.0.1, localhost or [::1] with this port is refused, see :mod:`sda_gradio.serving`). With
    ``block=False`` it returns at once (call ``app.close()`` to stop it)."""
    import gradio.themes

    from sda_gradio.serving import middleware

    state: AppState = app.sda_state
    app.queue(default_concurrency_limit=4)
    app.launch(server_name=HOST, server_port=port, share=False, inbrowser=open_browser,
               prevent_thread_lock=not block, show_error=False, quiet=quiet, ssr_mode=False,
               allowed_paths=[str(state.home.root)], footer_links=[], theme=gradio.themes.Soft(), css=CSS,
               app_kwargs={"middleware": middleware(port)})  # Host must be 127.0.0.1/localhost:port (rebinding)
    return app


def launch(port: int = 7860, home: SdaHome | str | Path | None = None, device: str = "auto",
           open_browser: bool = False, block: bool = True, quiet: bool = False) -> Any:
    """Build the app for ``home`` and serve it on ``http://127.0.0.1:<port>`` (see :func:`serve`)."""
    return serve(build_app(home, device), port, block=block, quiet=quiet, open_browser=open_browser)
