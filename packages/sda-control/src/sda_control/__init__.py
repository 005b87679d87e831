"""sda-control: maps a model's latent space to musical sliders and edits RVQ code grids.

The slider mapping and the code-grid editor arrive with their own issue; this package is the
place they live, between sda-models (below) and sda-engine (above).
"""

__version__ = "0.1.0"

__all__: list[str] = []
