"""sda-models: mel front end, autoencoders (VAE, RVQ-VAE), code prior, vocoders and the .sda model file."""

from sda_models.device import cpu_generator, resolve_device

__version__ = "0.1.0"

__all__ = ["cpu_generator", "resolve_device"]
