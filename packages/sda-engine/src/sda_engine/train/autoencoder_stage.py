"""The autoencoder stage: model, optimizer, step, validation, health warnings, previews; its state is
registered with :class:`~sda_engine.train.stage.TorchStage`, which checkpoints and restores it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from sda_audio.atomic import atomic_path
from sda_engine.store.home import SdaHome
from sda_engine.train import distributed
from sda_engine.train.base_start import load_start_weights
from sda_engine.train.checkpoints import Checkpoint
from sda_engine.train.data import HOP, SAMPLE_RATE, TrainingData, load_mono
from sda_engine.train.mel_cache import MelCache
from sda_engine.train.stage import SavedTensorsPart, TorchStage
from sda_models.attributes import mel_attributes
from sda_models.autoencoder import build_autoencoder
from sda_models.mel import LogMel
from sda_models.normalization import MelStats
from sda_models.training import eval_step, lr_at, make_optimizer, train_step

log = logging.getLogger(__name__)

STATS_PREFIX = "extra.mel."
MAX_VAL_WINDOWS = 16


def write_preview(path: Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write a mono float preview as 16-bit WAV, atomically."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 0.99:
        audio = audio * (0.99 / peak)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), audio.astype(np.float32), sample_rate, subtype="PCM_16")
    return path


class AutoencoderStage(TorchStage):
    """Everything the autoencoder stage needs (a :class:`~sda_engine.train.stage.Stage` for the loop).

    Registered state: the model's weights with their generators and reservoirs, the optimizer, the torch and
    sampler RNG, the normalisation statistics (read back by the constructor) and the warnings already given;
    the model's weights are its best state.

    Args:
        cfg / tr: autoencoder and training configs.
        data: the training data (its generator is the sampler generator that gets checkpointed).
        device: where the model trains.
        home / name: for previews (``previews/<name>/autoencoder-step000050.wav``).
        growing: an existing model bundle to continue from (INCR-01), or a base model to start from
            (:class:`~sda_engine.train.base_start.BaseStart`: all but its codebooks); its statistics are kept.
        ckpt: a checkpoint to take the normalisation statistics from (resume).
        vocoder: a preview vocoder (``synthesize(log_mel (n_mels, T)) -> (T * hop,)``), or ``None``.
    """

    def __init__(self, cfg: Any, tr: Any, data: TrainingData, device: torch.device, home: SdaHome, name: str,
                 growing: Any = None, ckpt: Checkpoint | None = None, vocoder: Any = None,
                 onset_share: float = 0.0) -> None:
        super().__init__()
        self.cfg, self.tr, self.data, self.device = cfg, tr, data, device
        self.home, self.name, self.vocoder = home, name, vocoder
        self.mel_cpu = LogMel()
        self.mel = LogMel().to(device)
        if ckpt is not None and f"{STATS_PREFIX}mean" in ckpt.tensors:
            self.stats = MelStats.from_tensors(ckpt.tensors, STATS_PREFIX)
        elif growing is not None:
            self.stats = growing.stats
        else:
            self.stats = data.mel_stats(self.mel_cpu)
        self.stats_dev = self.stats.to(device)
        self.cache: MelCache | None = None
        if tr.cached_variants > 0:
            self.cache = MelCache(data.train_items, self._norm_mel_cpu, tr.segment_frames, tr.cached_variants,
                                  tr.cache_megabytes, data.augment if tr.augment else None, tr.seed, HOP,
                                  onset_share=onset_share)
        self.model = build_autoencoder(cfg, seed=tr.seed).to(device)
        if growing is not None:
            load_start_weights(self.model, growing)
        self.optimizer = make_optimizer(self.model, tr)
        # what a step trains: the model itself, or in a DDP run the model in DistributedDataParallel (gradients
        # averaged over the ranks, rank 0's RVQ codebooks broadcast before each forward)
        self.trained: Any = distributed.wrap(self.model, device)
        val = data.validation_waves(MAX_VAL_WINDOWS)
        self.val_x, self.val_attrs = self.prepare(val) if val.shape[0] else (None, None)
        self._warned: set[str] = set()
        self.register_stateful("autoencoder", self.model, extras=True)
        self.register_best_state("autoencoder")
        self.register_stateful("optim.autoencoder", self.optimizer)
        self.register_rng(data.generator)
        self.register_part("stats", SavedTensorsPart(lambda: self.stats.to_tensors(STATS_PREFIX)))
        self.register_meta("warned.autoencoder", lambda: sorted(self._warned), self._set_warned)

    def _set_warned(self, keys: list[str]) -> None:
        self._warned = set(keys)

    # -- helpers -----------------------------------------------------------------------------
    def _norm_mel_cpu(self, waves: torch.Tensor) -> torch.Tensor:
        """Waves ``(B, T)`` -> normalised log-mel on the CPU (what the cache holds)."""
        return self.stats.normalize(self.mel_cpu(waves))

    def mel_norm(self, waves: torch.Tensor) -> torch.Tensor:
        """Waves ``(B, T)`` (CPU) → normalised log-mel ``(B, n_mels, T // hop)`` on the device."""
        with torch.no_grad():
            return self.stats_dev.normalize(self.mel(waves.to(self.device)))

    def prepare(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Waves → (normalised log-mel, their regularised attributes or ``None``), from one mel transform."""
        with torch.no_grad():
            log_mel = self.mel(waves.to(self.device))
            return self.stats_dev.normalize(log_mel), self.attributes(log_mel)

    def attributes(self, log_mel: torch.Tensor) -> torch.Tensor | None:
        """The regularised attributes ``(B, n)`` of windows' log-mels, or ``None`` when regularisation is off."""
        if not self.cfg.regularised:
            return None
        return mel_attributes(log_mel, self.cfg.attributes, self.mel.config)

    def _recon_loss(self, metrics: dict[str, float]) -> float:
        c = self.cfg
        return c.l1_weight * metrics["l1"] + c.l2_weight * metrics["l2"] + c.spectral_weight * metrics["spectral"]

    @torch.no_grad()
    def reconstruction_error(self, files: list[Path]) -> float:
        """Mean L1 (normalised log-mel) of reconstructing fixed windows of ``files`` (eval mode)."""
        seg = self.data.segment_samples
        errors = []
        was = self.model.training
        self.model.eval()
        try:
            for f in files:
                audio = load_mono(f)
                n = max(1, len(audio) // seg)
                for i in range(min(n, 4)):
                    chunk = audio[i * seg:(i + 1) * seg]
                    if len(chunk) < seg:
                        chunk = np.resize(chunk, seg) if len(chunk) else np.zeros(seg, np.float32)
                    x = self.mel_norm(torch.from_numpy(np.ascontiguousarray(chunk, np.float32))[None])
                    errors.append(float((self.model(x).recon - x).abs().mean()))
        finally:
            self.model.train(was)
        return float(np.mean(errors)) if errors else float("nan")

    # -- the stage ---------------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, float]:
        self.step = step
        if self.cache is not None:
            x = self.cache.sample(self.tr.batch_size, self.data.generator).to(self.device)
            with torch.no_grad():
                attrs = self.attributes(self.stats_dev.denormalize(x)) if self.cfg.regularised else None
        else:
            waves = self.data.sample_waves(self.tr.batch_size, augment=self.tr.augment)
            x, attrs = self.prepare(waves)
        lr = lr_at(step - 1, self.tr, self.time_fraction)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        # mixed precision on CUDA only (bfloat16 needs no loss scaler); autocast stays off on CPU and MPS
        amp = torch.bfloat16 if x.device.type == "cuda" and torch.cuda.is_bf16_supported() else None
        metrics = train_step(self.trained, self.optimizer, x, self.cfg, step, grad_clip=self.tr.grad_clip or None,
                             generator=self.data.generator, amp_dtype=amp, attributes=attrs)
        metrics["loss"] = metrics["total"]
        metrics["recon"] = self._recon_loss(metrics)
        return metrics

    def evaluate(self) -> dict[str, float] | None:
        if self.val_x is None:
            return None
        m = eval_step(self.model, self.val_x, self.cfg, self.step, attributes=self.val_attrs)
        out = {"val_loss": self._recon_loss(m), "val_l1": m["l1"], "val_spectral": m["spectral"]}
        if "attr" in m:
            out["val_attr"] = m["attr"]
        return out

    def health(self) -> list[dict[str, Any]] | None:
        return self.model.health() if self.cfg.kind == "rvq" else None

    def after_eval(self, step: int, entry: dict[str, float]) -> list[str]:
        out = []
        if self.cfg.kind == "rvq":
            for level in self.model.health():
                util = float(level.get("utilisation", 1.0))
                key = f"util{level['level']}"
                if util < self.cfg.low_utilisation and key not in self._warned:
                    self._warned.add(key)
                    out.append(f"codebook level {level['level']} uses only {util:.0%} of its codes "
                               f"(below {self.cfg.low_utilisation:.0%}); dead codes are being reset")
        elif step >= self.cfg.kl_warmup_steps:
            x = self.val_x if self.val_x is not None else self.mel_norm(self.data.train_windows(8))
            report = self.model.collapse(x)
            if report["collapsed"] and "collapse" not in self._warned:
                self._warned.add("collapse")
                out.append(f"VAE posterior collapse: only {report['active_dims']}/{report['total_dims']} latent "
                           f"dimensions are active (mean KL {report['mean_kl_active']:.2f} nats); the model "
                           "ignores its latent code - try a smaller KL weight or more data")
        return out

    def preview(self, step: int) -> str | None:
        if self.vocoder is None:
            return None
        windows = self.val_x if self.val_x is not None else self.mel_norm(self.data.train_windows(1))
        was = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                recon = self.model(windows[:1]).recon
                log_mel = self.stats_dev.denormalize(recon)[0].float().cpu()
            audio = self.vocoder.synthesize(log_mel)
        finally:
            self.model.train(was)
        path = self.home.previews_dir / self.name / f"autoencoder-step{step:07d}.wav"
        return str(write_preview(path, np.asarray(audio, np.float32)))

    def load_weights(self, ckpt: Checkpoint) -> None:
        """Restore the model's weights (and generators, reservoirs) alone, e.g. from a prior-stage checkpoint."""
        self.load_modules(ckpt)
