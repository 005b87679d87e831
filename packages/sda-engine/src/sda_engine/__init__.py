"""sda-engine: training and generation orchestration, model library, presets and history."""

__version__ = "0.1.0"

__all__: list[str] = []
