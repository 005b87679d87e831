"""Vocoders: BigVGAN-v2 universal, per-model HiFi-GAN V2, and training-free corpus resynthesis."""

from sda_models.vocoders.base import Vocoder, VocoderChoice

__all__ = ["Vocoder", "VocoderChoice"]
