"""sda-models: mel front end, autoencoders (VAE, RVQ-VAE), code prior, vocoders and the .sda model file.

The names below are what the other packages use most; everything else is imported from its module
(``sda_models.prior``, ``sda_models.vocoders.hifigan``, ...). Apps reach models through ``sda_engine``.
"""

from sda_models.autoencoder import build_autoencoder
from sda_models.configs import AutoencoderConfig, PriorConfig, TrainingConfig, preset_config
from sda_models.device import cpu_generator, resolve_device
from sda_models.mel import LogMel, MelConfig
from sda_models.model_file import ModelBundle, load_model, read_metadata, save_model, upgrade_model_file
from sda_models.model_format import ModelFileError
from sda_models.normalization import MelStats
from sda_models.prior import CodePrior

__version__ = "0.1.0"

__all__ = [
    "AutoencoderConfig",
    "CodePrior",
    "LogMel",
    "MelConfig",
    "MelStats",
    "ModelBundle",
    "ModelFileError",
    "PriorConfig",
    "TrainingConfig",
    "build_autoencoder",
    "cpu_generator",
    "load_model",
    "preset_config",
    "read_metadata",
    "resolve_device",
    "save_model",
    "upgrade_model_file",
]
