"""sda-gradio: the browser app. Its interface arrives with its own issue; it will consume the
same progress events (:mod:`sda_audio.progress`) and engine API as the CLI."""

__version__ = "0.1.0"

__all__: list[str] = []
