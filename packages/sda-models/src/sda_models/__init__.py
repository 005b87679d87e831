"""sda-models: mel front end, autoencoders (VAE, RVQ-VAE), code prior, vocoders and the .sda model file."""

from sda_models.autoencoder import AutoencoderOutput, MelAutoencoder, build_autoencoder
from sda_models.configs import (
    PRESETS,
    AutoencoderConfig,
    ConfigError,
    PresetConfig,
    PriorConfig,
    TrainingConfig,
    codebook_size_for,
    preset_config,
)
from sda_models.device import cpu_generator, resolve_device
from sda_models.gaussian import collapse_report
from sda_models.losses import autoencoder_loss
from sda_models.mel import LogMel, MelConfig, log_mel
from sda_models.memorisation import MemorisationMonitor, MemorisationVerdict
from sda_models.migrations import v1_to_v2
from sda_models.model_file import (
    FORMAT_VERSION,
    ModelBundle,
    ModelFileError,
    NewerFormatError,
    load_model,
    read_metadata,
    save_model,
    upgrade_model_file,
)
from sda_models.normalization import MelStats
from sda_models.prior import (
    CodePrior,
    evaluate_prior,
    filter_probs,
    prior_loss,
    prior_train_step,
    random_code_windows,
    sample,
    sample_token,
)
from sda_models.rvq import ResidualVectorQuantizer
from sda_models.training import eval_step, lr_at, make_optimizer, train_step

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "AutoencoderConfig",
    "AutoencoderOutput",
    "ConfigError",
    "LogMel",
    "MelAutoencoder",
    "MelConfig",
    "MelStats",
    "PresetConfig",
    "PriorConfig",
    "ResidualVectorQuantizer",
    "TrainingConfig",
    "autoencoder_loss",
    "build_autoencoder",
    "codebook_size_for",
    "collapse_report",
    "eval_step",
    "log_mel",
    "lr_at",
    "make_optimizer",
    "preset_config",
    "train_step",
    "FORMAT_VERSION",
    "CodePrior",
    "MemorisationMonitor",
    "MemorisationVerdict",
    "ModelBundle",
    "ModelFileError",
    "NewerFormatError",
    "cpu_generator",
    "evaluate_prior",
    "filter_probs",
    "load_model",
    "prior_loss",
    "prior_train_step",
    "random_code_windows",
    "read_metadata",
    "resolve_device",
    "sample",
    "sample_token",
    "save_model",
    "upgrade_model_file",
    "v1_to_v2",
]
