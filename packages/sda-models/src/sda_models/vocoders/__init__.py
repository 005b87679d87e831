"""Vocoders: BigVGAN-v2 universal, per-model HiFi-GAN V2, and training-free corpus resynthesis."""

from sda_models.vocoders.base import Vocoder, VocoderChoice
from sda_models.vocoders.bigvgan import BIGVGAN_V2_44K_128BAND_512X, BigVGANConfig, BigVGANGenerator
from sda_models.vocoders.bigvgan_vocoder import BigVGANVocoder
from sda_models.vocoders.bigvgan_weights import (
    BigVGANWeights,
    load_bigvgan_generator,
    resolve_bigvgan_weights,
)
from sda_models.vocoders.corpus import CorpusVocoder, GrainSettings
from sda_models.vocoders.corpus_index import CorpusIndex, corpus_index_path_for
from sda_models.vocoders.hifigan import HifiGanConfig, HifiGanGenerator, HifiGanVocoder
from sda_models.vocoders.hifigan_training import HifiGanTrainer, HifiGanTrainingConfig
from sda_models.vocoders.select import VOCODER_CHOICES, select_vocoder

__all__ = [
    "Vocoder",
    "VocoderChoice",
    "BIGVGAN_V2_44K_128BAND_512X",
    "BigVGANConfig",
    "BigVGANGenerator",
    "BigVGANVocoder",
    "BigVGANWeights",
    "load_bigvgan_generator",
    "resolve_bigvgan_weights",
    "HifiGanConfig",
    "HifiGanGenerator",
    "HifiGanVocoder",
    "HifiGanTrainer",
    "HifiGanTrainingConfig",
    "CorpusIndex",
    "corpus_index_path_for",
    "CorpusVocoder",
    "GrainSettings",
    "VOCODER_CHOICES",
    "select_vocoder",
]
