"""Frozen, JSON-serialisable configurations for the autoencoder, the code prior and training, plus presets.

Every config has ``to_dict()`` and ``from_dict()``; ``from_dict`` refuses unknown keys (a config written by
a newer sda, or a typo, is an error rather than silently ignored). Tuples become JSON lists and back.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sda_audio.errors import SdaError

KINDS = ("vae", "rvq")
PRESET_NAMES = ("tiny", "small", "full")
MIN_RVQ_LEVELS = 2
MAX_RVQ_LEVELS = 4
REGULARISABLE_ATTRIBUTES = ("brightness", "warmth", "rhythmic")
"""Attributes that attribute-regularised training can tie to a latent dimension (see sda_models.attributes)."""

T = TypeVar("T")


class ConfigError(SdaError, ValueError):
    """A configuration value is out of range or a stored config cannot be read."""


def _to_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
    flds = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(flds))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys: {', '.join(unknown)}",
                          hint="the model file may come from a newer sda; upgrade sda")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        f = flds[name]
        default = f.default if f.default is not dataclasses.MISSING else None
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _check(condition: bool, message: str, hint: str | None = None) -> None:
    if not condition:
        raise ConfigError(message, hint=hint)


def codebook_size_for(n_files: int | None, override: int | None = None) -> int:
    """Codebook entries per RVQ level for a dataset of ``n_files`` files (VQVAE-02).

    64 for up to 20 files, 128 for 21-100, 256 above 100 (the seeds' 5-20 / 20-100 / 100-500 bands);
    ``override`` wins when given.
    """
    if override is not None:
        _check(override >= 2, f"codebook size must be at least 2, got {override}")
        return int(override)
    if n_files is None or n_files <= 20:
        return 64
    if n_files <= 100:
        return 128
    return 256


@dataclass(frozen=True)
class AutoencoderConfig:
    """The mel autoencoder: conv encoder → bottleneck (VAE or residual VQ) → conv decoder.

    ``channels[0]`` is the width at full frame rate; each of the ``log2(downsample)`` stride-2 stages
    moves to the next width, so ``len(channels) == log2(downsample) + 1``.
    """

    kind: str = "vae"
    n_mels: int = 128
    channels: tuple[int, ...] = (64, 128, 256)
    latent_dim: int = 32
    downsample: int = 4
    res_blocks: int = 2
    dilations: tuple[int, ...] = (1, 3, 9)
    kernel_size: int = 5
    dropout: float = 0.0
    norm: str = "group"  # "group" | "weight"
    activation: str = "gelu"  # "gelu" | "silu"
    # reconstruction loss
    l1_weight: float = 1.0
    l2_weight: float = 1.0
    spectral_weight: float = 0.5
    spectral_scales: tuple[int, ...] = (1, 2, 4, 8)
    # VAE bottleneck
    kl_weight: float = 1e-2
    kl_warmup_steps: int = 1000
    free_bits: float = 1.0
    # RVQ bottleneck
    rvq_levels: int = 4
    codebook_size: int = 128
    codebook_dim: int | None = None
    commitment_weight: float = 0.25
    ema_decay: float = 0.99
    dead_code_threshold: int = 100
    kmeans_iters: int = 10
    usage_window: int = 100
    low_utilisation: float = 0.3
    # attribute regularisation (AR-VAE): latent dim i is tied to attributes[i]; off when the weight is 0
    attributes: tuple[str, ...] = ()
    attribute_weight: float = 0.0
    attribute_delta: float = 1.0

    def __post_init__(self) -> None:
        _check(self.kind in KINDS, f"unknown autoencoder kind '{self.kind}'", hint="use 'vae' or 'rvq'")
        _check(self.n_mels > 0, f"n_mels must be positive, got {self.n_mels}")
        stages = int(round(math.log2(self.downsample))) if self.downsample >= 1 else -1
        _check(self.downsample >= 1 and 2**stages == self.downsample,
               f"downsample must be a power of two, got {self.downsample}")
        _check(len(self.channels) == stages + 1,
               f"channels {self.channels} must have log2(downsample)+1 = {stages + 1} entries")
        _check(all(c > 0 for c in self.channels), f"channels must be positive, got {self.channels}")
        _check(self.latent_dim > 0, f"latent_dim must be positive, got {self.latent_dim}")
        _check(self.res_blocks >= 0, f"res_blocks must be >= 0, got {self.res_blocks}")
        _check(len(self.dilations) > 0 and all(d >= 1 for d in self.dilations),
               f"dilations must be positive, got {self.dilations}")
        _check(self.kernel_size % 2 == 1, f"kernel_size must be odd, got {self.kernel_size}")
        _check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        _check(self.norm in ("group", "weight"), f"unknown norm '{self.norm}'", hint="use 'group' or 'weight'")
        _check(self.activation in ("gelu", "silu"), f"unknown activation '{self.activation}'",
               hint="use 'gelu' or 'silu'")
        _check(len(self.spectral_scales) > 0 and all(s >= 1 for s in self.spectral_scales),
               f"spectral_scales must be positive, got {self.spectral_scales}")
        _check(self.kl_weight >= 0 and self.free_bits >= 0 and self.kl_warmup_steps >= 0,
               "kl_weight, free_bits and kl_warmup_steps must be >= 0")
        _check(MIN_RVQ_LEVELS <= self.rvq_levels <= MAX_RVQ_LEVELS,
               f"RVQ levels must be between {MIN_RVQ_LEVELS} and {MAX_RVQ_LEVELS}, got {self.rvq_levels}",
               hint="use 2, 3 or 4 levels")
        _check(self.codebook_size >= 2, f"codebook size must be at least 2, got {self.codebook_size}")
        _check(self.codebook_dim is None or self.codebook_dim > 0,
               f"codebook_dim must be positive, got {self.codebook_dim}")
        _check(self.commitment_weight >= 0, f"commitment_weight must be >= 0, got {self.commitment_weight}")
        _check(0.0 < self.ema_decay < 1.0, f"ema_decay must be in (0, 1), got {self.ema_decay}")
        _check(self.dead_code_threshold >= 1 and self.usage_window >= 1 and self.kmeans_iters >= 0,
               "dead_code_threshold and usage_window must be >= 1, kmeans_iters >= 0")
        _check(0.0 <= self.low_utilisation <= 1.0, f"low_utilisation must be in [0, 1], got {self.low_utilisation}")
        unknown = [a for a in self.attributes if a not in REGULARISABLE_ATTRIBUTES]
        _check(not unknown, f"unknown regularised attribute {unknown[0] if unknown else ''!r}",
               hint=f"use some of {', '.join(REGULARISABLE_ATTRIBUTES)}")
        _check(len(set(self.attributes)) == len(self.attributes), f"an attribute is listed twice: {self.attributes}")
        _check(len(self.attributes) <= self.latent_dim,
               f"{len(self.attributes)} regularised attributes need as many latent dims, got {self.latent_dim}")
        _check(self.attribute_weight >= 0 and self.attribute_delta > 0,
               "attribute_weight must be >= 0 and attribute_delta > 0")

    @property
    def regularised(self) -> dict[int, str]:
        """Latent dimension -> the attribute tied to it (empty unless attribute regularisation is on)."""
        return dict(enumerate(self.attributes)) if self.attribute_weight > 0 else {}

    @property
    def effective_codebook_dim(self) -> int:
        return self.codebook_dim if self.codebook_dim is not None else self.latent_dim

    @property
    def n_stages(self) -> int:
        return len(self.channels) - 1

    def replace(self, **changes: Any) -> AutoencoderConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AutoencoderConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class PriorConfig:
    """The autoregressive code prior (a decoder-only transformer over RVQ code sequences)."""

    levels: int = 4
    codebook_size: int = 128
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    context_frames: int = 256

    def __post_init__(self) -> None:
        _check(MIN_RVQ_LEVELS <= self.levels <= MAX_RVQ_LEVELS,
               f"prior levels must be between {MIN_RVQ_LEVELS} and {MAX_RVQ_LEVELS}, got {self.levels}")
        _check(self.codebook_size >= 2, f"codebook size must be at least 2, got {self.codebook_size}")
        _check(self.d_model > 0 and self.n_heads > 0 and self.d_model % self.n_heads == 0,
               f"d_model ({self.d_model}) must be a positive multiple of n_heads ({self.n_heads})")
        _check(self.n_layers >= 1 and self.ff_mult >= 1 and self.context_frames >= 2,
               "n_layers and ff_mult must be >= 1, context_frames >= 2")
        _check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")

    def replace(self, **changes: Any) -> PriorConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriorConfig:
        return _from_dict(cls, data)


SCHEDULES = ("steps", "time")
"""How a stage's learning rate decays: over its steps, or over its time budget."""
CACHED_VARIANTS = 8
"""Augmented copies of the training audio whose log-mels the default recipe caches (besides the clean audio)."""


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings for one training stage (the engine's trainer owns the loop)."""

    lr: float = 1e-3
    weight_decay: float = 1e-4
    betas: tuple[float, ...] = (0.9, 0.99)
    batch_size: int = 16
    segment_frames: int = 128
    max_steps: int = 3000
    warmup_steps: int = 100
    grad_clip: float = 1.0
    val_fraction: float = 0.1
    log_every: int = 25
    eval_every: int = 250
    checkpoint_every: int = 500
    preview_every: int = 500
    augment: bool = True
    mixed_precision: bool = True
    seed: int = 0
    schedule: str = "steps"
    """``steps``: the learning rate decays over ``max_steps``; ``time``: over the stage's time budget (a
    budget-driven run, where the time decides how many steps there are)."""
    cached_variants: int = 0
    """``0``: each step augments waveform segments and computes their log-mels (the recipe of sda <= 0.1's
    first models); ``N >= 1``: the log-mels of the training audio are computed once, with ``N`` augmented
    copies, and the steps draw windows from that cache (the model never waits for the data)."""
    cache_megabytes: float = 512.0
    """Memory bound of that cache: fewer augmented copies are made when they would not fit."""

    def __post_init__(self) -> None:
        _check(self.lr > 0, f"learning rate must be positive, got {self.lr}")
        _check(self.schedule in SCHEDULES, f"unknown learning-rate schedule '{self.schedule}'",
               hint=f"use one of {', '.join(SCHEDULES)}")
        _check(self.cached_variants >= 0 and self.cache_megabytes > 0,
               "cached_variants must be >= 0 and cache_megabytes positive")
        _check(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), f"bad Adam betas {self.betas}")
        _check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _check(self.segment_frames >= 4, f"segment_frames must be >= 4, got {self.segment_frames}")
        _check(self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}")
        _check(self.warmup_steps >= 0 and self.grad_clip >= 0, "warmup_steps and grad_clip must be >= 0")
        _check(0.0 <= self.val_fraction < 1.0, f"val_fraction must be in [0, 1), got {self.val_fraction}")
        _check(min(self.log_every, self.eval_every, self.checkpoint_every, self.preview_every) >= 1,
               "log/eval/checkpoint/preview intervals must be >= 1")

    def replace(self, **changes: Any) -> TrainingConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class PresetSpec:
    """The size knobs that distinguish one preset from another."""

    description: str
    channels: tuple[int, ...]
    latent_dim: int
    res_blocks: int
    kernel_size: int
    dropout: float
    rvq_levels: int
    codebook_dim: int
    kl_warmup_steps: int
    dead_code_threshold: int
    usage_window: int
    lr: float
    batch_size: int
    segment_frames: int
    max_steps: int
    log_every: int
    eval_every: int
    checkpoint_every: int
    prior: PriorConfig = field(default_factory=PriorConfig)
    prior_lr: float = 3e-4
    prior_max_steps: int = 3000


SIZES: dict[str, PresetSpec] = {
    # the model sizes (a size is not a preset: presets are saved generation settings)
    "tiny": PresetSpec(
        description="seconds-to-minutes on a laptop CPU; for trying things out and for tests",
        channels=(32, 48, 64), latent_dim=16, res_blocks=1, kernel_size=3, dropout=0.0,
        rvq_levels=2, codebook_dim=16, kl_warmup_steps=100, dead_code_threshold=25, usage_window=25,
        lr=2e-3, batch_size=8, segment_frames=64, max_steps=300, log_every=10, eval_every=50,
        checkpoint_every=100,
        prior=PriorConfig(levels=2, d_model=64, n_layers=2, n_heads=2, dropout=0.1, context_frames=64),
        prior_lr=1e-3, prior_max_steps=300,
    ),
    "small": PresetSpec(
        description="usable results on a CPU in tens of minutes; the default without a GPU",
        channels=(64, 96, 128), latent_dim=32, res_blocks=2, kernel_size=5, dropout=0.1,
        rvq_levels=3, codebook_dim=32, kl_warmup_steps=1000, dead_code_threshold=100, usage_window=100,
        lr=1e-3, batch_size=16, segment_frames=128, max_steps=4000, log_every=25, eval_every=250,
        checkpoint_every=500,
        prior=PriorConfig(levels=3, d_model=192, n_layers=4, n_heads=4, dropout=0.1, context_frames=128),
        prior_lr=5e-4, prior_max_steps=4000,
    ),
    "full": PresetSpec(
        description="best quality; meant for a GPU (hours on a CPU)",
        channels=(128, 256, 512), latent_dim=64, res_blocks=3, kernel_size=5, dropout=0.1,
        rvq_levels=4, codebook_dim=64, kl_warmup_steps=5000, dead_code_threshold=200, usage_window=200,
        lr=5e-4, batch_size=32, segment_frames=256, max_steps=40000, log_every=50, eval_every=1000,
        checkpoint_every=2000,
        prior=PriorConfig(levels=4, d_model=384, n_layers=8, n_heads=6, dropout=0.1, context_frames=256),
        prior_lr=3e-4, prior_max_steps=30000,
    ),
}


@dataclass(frozen=True)
class PresetConfig:
    """Everything a preset fixes: the autoencoder, its training, and (RVQ only) the prior and its training."""

    name: str
    kind: str
    autoencoder: AutoencoderConfig
    training: TrainingConfig
    prior: PriorConfig | None
    prior_training: TrainingConfig | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "autoencoder": self.autoencoder.to_dict(),
            "training": self.training.to_dict(),
            "prior": self.prior.to_dict() if self.prior else None,
            "prior_training": self.prior_training.to_dict() if self.prior_training else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PresetConfig:
        expected = {"name", "kind", "autoencoder", "training", "prior", "prior_training"}
        unknown = sorted(set(data) - expected)
        if unknown:
            raise ConfigError(f"unknown PresetConfig keys: {', '.join(unknown)}")
        return cls(
            name=data["name"], kind=data["kind"],
            autoencoder=AutoencoderConfig.from_dict(data["autoencoder"]),
            training=TrainingConfig.from_dict(data["training"]),
            prior=PriorConfig.from_dict(data["prior"]) if data.get("prior") else None,
            prior_training=TrainingConfig.from_dict(data["prior_training"]) if data.get("prior_training") else None,
        )


def preset_config(name: str, kind: str = "rvq", n_files: int | None = None,
                  codebook_size: int | None = None, rvq_levels: int | None = None,
                  codebook_dim: int | None = None, commitment_weight: float | None = None) -> PresetConfig:
    """The configs of preset ``name`` (tiny|small|full) for an autoencoder of ``kind`` (vae|rvq).

    ``n_files`` sets the codebook size (see :func:`codebook_size_for`) unless ``codebook_size`` overrides it;
    ``rvq_levels`` (2-4), ``codebook_dim`` and ``commitment_weight`` override the preset's RVQ settings
    (VQVAE-05/06) and are validated like every config value.
    """
    if name not in SIZES:
        raise ConfigError(f"unknown preset '{name}'", hint=f"use one of {', '.join(PRESET_NAMES)}")
    _check(kind in KINDS, f"unknown autoencoder kind '{kind}'", hint="use 'vae' or 'rvq'")
    spec = SIZES[name]
    size = codebook_size_for(n_files, codebook_size)
    commitment: dict[str, Any] = {} if commitment_weight is None else {"commitment_weight": commitment_weight}
    ae = AutoencoderConfig(
        kind=kind, channels=spec.channels, latent_dim=spec.latent_dim, res_blocks=spec.res_blocks,
        kernel_size=spec.kernel_size, dropout=spec.dropout, kl_warmup_steps=spec.kl_warmup_steps,
        rvq_levels=spec.rvq_levels if rvq_levels is None else rvq_levels, codebook_size=size,
        codebook_dim=spec.codebook_dim if codebook_dim is None else codebook_dim,
        dead_code_threshold=spec.dead_code_threshold, usage_window=spec.usage_window,
        **commitment,
    )
    training = TrainingConfig(
        lr=spec.lr, batch_size=spec.batch_size, segment_frames=spec.segment_frames, max_steps=spec.max_steps,
        log_every=spec.log_every, eval_every=spec.eval_every, checkpoint_every=spec.checkpoint_every,
        preview_every=spec.checkpoint_every, cached_variants=CACHED_VARIANTS,
    )
    prior = prior_training = None
    if kind == "rvq":
        prior = dataclasses.replace(spec.prior, levels=ae.rvq_levels, codebook_size=size)
        prior_training = dataclasses.replace(
            training, lr=spec.prior_lr, max_steps=spec.prior_max_steps, augment=False, cached_variants=0,
            segment_frames=spec.prior.context_frames * ae.downsample,
        )
    return PresetConfig(name=name, kind=kind, autoencoder=ae, training=training, prior=prior,
                        prior_training=prior_training)
