"""Training a per-model HiFi-GAN V2 vocoder, one step at a time, with exact save/resume.

Small-data care: the first ``warmup_steps`` steps are non-adversarial (mel L1 + multi-resolution STFT), so
even minutes of CPU training give recognisable audio; afterwards the HiFi-GAN objective applies (LSGAN on
MPD + MSD, feature matching, mel L1 x45), with the discriminators seeing identically augmented real and
generated audio so they do not memorise a handful of files. Augmentation of the *training audio* itself
belongs to the engine's data pipeline (``sda_audio.augment``), not here.

The engine drives the loop (events, cancel, checkpoints): ``trainer.step(wave, log_mel)`` per batch, and
``trainer.state_dict()`` → ``(tensors, meta)`` that it stores with safetensors + JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, cast

import torch
import torch.nn.functional as F

from sda_audio.errors import SdaError
from sda_models.device import resolve_device
from sda_models.mel import LogMel, MelConfig
from sda_models.vocoders.hifigan import HifiGanConfig, HifiGanGenerator, HifiGanVocoder, generator_tensors
from sda_models.vocoders.hifigan_discriminators import (
    DiscriminatorConfig,
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
)
from sda_models.vocoders.hifigan_losses import (
    DiscriminatorAugment,
    MultiResolutionSTFTLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)

_MODULES = ("generator", "mpd", "msd")
_OPTIMIZERS = ("opt_g", "opt_d")


@dataclass(frozen=True)
class HifiGanTrainingConfig:
    """Everything that shapes a vocoder training run (JSON round-trips through ``to_dict``/``from_dict``)."""

    generator: HifiGanConfig = field(default_factory=HifiGanConfig)
    discriminators: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    learning_rate: float = 2e-4
    adam_betas: tuple[float, float] = (0.8, 0.99)
    lr_decay: float = 0.99999  # per optimiser step (HiFi-GAN: 0.999 per epoch)
    warmup_steps: int = 1000
    lambda_mel: float = 45.0
    lambda_stft: float = 2.5  # warm-up only
    grad_clip: float = 1000.0
    augment_gain_db: float = 6.0
    augment_max_shift: int = 64
    augment_noise_std: float = 0.003
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["generator"] = self.generator.to_dict()
        out["discriminators"] = self.discriminators.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HifiGanTrainingConfig:
        data = dict(data)
        gen = HifiGanConfig.from_dict(data.pop("generator", {}))
        disc = DiscriminatorConfig.from_dict(data.pop("discriminators", {}))
        if "adam_betas" in data:
            data["adam_betas"] = tuple(float(b) for b in data["adam_betas"])
        return cls(generator=gen, discriminators=disc, **data)


class HifiGanTrainer:
    """Generator + MPD + MSD with their optimisers and schedulers.

    Args:
        config: the run's :class:`HifiGanTrainingConfig`.
        device: ``"auto"``/``"cpu"``/``"cuda"``/``"mps"`` or a ``torch.device``. Weights are initialised on
            the CPU from ``config.seed`` and moved afterwards, so a seed means the same start on every device.
    """

    def __init__(self, config: HifiGanTrainingConfig = HifiGanTrainingConfig(),
                 device: str | torch.device | None = "auto") -> None:
        if config.generator.hop_length != MelConfig().hop_length:
            raise ValueError(f"generator hop {config.generator.hop_length} != mel hop {MelConfig().hop_length}")
        self.config = config
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.generator = HifiGanGenerator(config.generator)
            self.mpd = MultiPeriodDiscriminator(config.discriminators)
            self.msd = MultiScaleDiscriminator(config.discriminators)
        for module in (self.generator, self.mpd, self.msd):
            module.to(self.device).train()
        self.log_mel = LogMel(MelConfig()).to(self.device)
        self.stft_loss = MultiResolutionSTFTLoss().to(self.device)
        self.augment = DiscriminatorAugment(seed=config.seed + 1, gain_db=config.augment_gain_db,
                                            max_shift=config.augment_max_shift, noise_std=config.augment_noise_std)
        betas = cast("tuple[float, float]", tuple(config.adam_betas))
        self.opt_g = torch.optim.AdamW(self.generator.parameters(), config.learning_rate, betas=betas)
        self.opt_d = torch.optim.AdamW([*self.mpd.parameters(), *self.msd.parameters()], config.learning_rate,
                                       betas=betas)
        self.sched_g = torch.optim.lr_scheduler.ExponentialLR(self.opt_g, config.lr_decay)
        self.sched_d = torch.optim.lr_scheduler.ExponentialLR(self.opt_d, config.lr_decay)
        self.step_count = 0

    @property
    def adversarial(self) -> bool:
        """Whether the next step uses the GAN objective (after the warm-up)."""
        return self.step_count >= self.config.warmup_steps

    def step(self, batch_wave: torch.Tensor, batch_logmel: torch.Tensor) -> dict[str, float]:
        """One optimisation step on ``batch_wave`` ``(B, T)`` and its canonical log-mel ``(B, 128, T // 512)``."""
        cfg = self.config
        real = batch_wave.to(self.device, torch.float32)
        if real.dim() == 3:
            real = real.squeeze(1)
        mel = batch_logmel.to(self.device, torch.float32)
        fake = self.generator(mel).squeeze(1)
        n = min(fake.shape[-1], real.shape[-1])
        fake, real = fake[:, :n], real[:, :n]
        fake_mel = self.log_mel(fake)
        frames = min(fake_mel.shape[-1], mel.shape[-1])
        mel_l1 = F.l1_loss(fake_mel[..., :frames], mel[..., :frames])
        metrics: dict[str, float] = {"mel_l1": mel_l1.item(), "adversarial": float(self.adversarial)}

        if self.adversarial:
            params = self.augment.sample(real.shape[0], n)
            real_a = self.augment.apply(real, params).unsqueeze(1)
            fake_a = self.augment.apply(fake, params).unsqueeze(1)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d = (discriminator_loss(self.mpd(real_a)[0], self.mpd(fake_a.detach())[0])
                      + discriminator_loss(self.msd(real_a)[0], self.msd(fake_a.detach())[0]))
            loss_d.backward()
            torch.nn.utils.clip_grad_norm_([*self.mpd.parameters(), *self.msd.parameters()], cfg.grad_clip)
            self.opt_d.step()
            self.sched_d.step()
            with torch.no_grad():
                _, real_fp = self.mpd(real_a)
                _, real_fs = self.msd(real_a)
            logits_p, fake_fp = self.mpd(fake_a)
            logits_s, fake_fs = self.msd(fake_a)
            adv = generator_adversarial_loss(logits_p) + generator_adversarial_loss(logits_s)
            fm = feature_matching_loss(real_fp, fake_fp) + feature_matching_loss(real_fs, fake_fs)
            loss_g = adv + fm + cfg.lambda_mel * mel_l1
            metrics.update(loss_d=loss_d.item(), adv=adv.item(), fm=fm.item())
        else:
            stft = self.stft_loss(fake, real)
            loss_g = cfg.lambda_mel * mel_l1 + cfg.lambda_stft * stft
            metrics["stft"] = stft.item()

        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        torch.nn.utils.clip_grad_norm_(self.generator.parameters(), cfg.grad_clip)
        self.opt_g.step()
        self.sched_g.step()
        self.step_count += 1
        metrics.update(loss_g=loss_g.item(), lr=float(self.opt_g.param_groups[0]["lr"]))
        return metrics

    # ------------------------------------------------------------------ persistence

    def generator_tensors(self) -> dict[str, torch.Tensor]:
        """The generator weights for the ``.sda`` file's ``vocoder.*`` section."""
        return generator_tensors(self.generator)

    def to_vocoder(self, device: str | torch.device | None = "auto") -> HifiGanVocoder:
        """An inference vocoder with a copy of the current generator weights."""
        return HifiGanVocoder.from_tensors(self.generator_tensors(), self.config.generator.to_dict(), device=device)

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``(tensors, meta)``: every tensor (weights, optimiser moments, RNG state) and a JSON-able rest."""
        tensors: dict[str, torch.Tensor] = {}
        for name in _MODULES:
            for key, value in getattr(self, name).state_dict().items():
                tensors[f"{name}.{key}"] = value.detach().cpu().contiguous()
        meta: dict[str, Any] = {"step": self.step_count, "config": self.config.to_dict()}
        for name in _OPTIMIZERS:
            sd = getattr(self, name).state_dict()
            scalars: dict[str, dict[str, Any]] = {}
            for index, state in sd["state"].items():
                for key, value in state.items():
                    if isinstance(value, torch.Tensor):
                        tensors[f"{name}.state.{index}.{key}"] = value.detach().cpu().contiguous()
                    else:
                        scalars.setdefault(str(index), {})[key] = value
            meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
        meta["sched_g"] = self.sched_g.state_dict()
        meta["sched_d"] = self.sched_d.state_dict()
        tensors["augment.rng"] = self.augment.get_state().clone()
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore exactly what :meth:`state_dict` saved (training continues bit-for-bit on the same device)."""
        if HifiGanTrainingConfig.from_dict(meta["config"]) != self.config:
            raise SdaError("this vocoder checkpoint was made with different training settings",
                           hint="resume with the settings it was started with, or start the vocoder training afresh")
        for name in _MODULES:
            prefix = f"{name}."
            part = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            getattr(self, name).load_state_dict(part, strict=True)
        for name in _OPTIMIZERS:
            prefix = f"{name}.state."
            state: dict[int, dict[str, Any]] = {}
            for key, value in tensors.items():
                if key.startswith(prefix):
                    index, _, field_name = key[len(prefix):].partition(".")
                    state.setdefault(int(index), {})[field_name] = value
            for index, extra in meta[name].get("scalars", {}).items():
                state.setdefault(int(index), {}).update(extra)
            getattr(self, name).load_state_dict({"state": state, "param_groups": meta[name]["param_groups"]})
        self.sched_g.load_state_dict(meta["sched_g"])
        self.sched_d.load_state_dict(meta["sched_d"])
        self.augment.set_state(tensors["augment.rng"])
        self.step_count = int(meta["step"])
