"""sda-gradio: the browser app (Data, Train, Generate, Codes, Library, History), served on 127.0.0.1 only.

``from sda_gradio.app import build_app, launch``. Gradio is imported only when the app is built, so importing
this package is cheap. The app consumes the engine's progress events (:mod:`sda_audio.progress`) and its
``GenerationRequest``/``ModelSession`` API, like the CLI.
"""

__version__ = "0.1.0"

__all__: list[str] = []
