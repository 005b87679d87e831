"""The prior stage (RVQ models): code extraction with the frozen autoencoder, prior training, memorisation;
its state is registered with :class:`~sda_engine.train.stage.TorchStage`, which checkpoints and restores it."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from typing import Any, TypeVar

import numpy as np
import torch

from sda_engine.store.home import SdaHome
from sda_engine.train import distributed
from sda_engine.train.autoencoder_stage import STATS_PREFIX, AutoencoderStage, write_preview
from sda_engine.train.checkpoints import Checkpoint
from sda_engine.train.data import TrainingData
from sda_engine.train.stage import ModulePart, SavedTensorsPart, SaveOnlyPart, TorchStage
from sda_models.device import cpu_generator
from sda_models.mel import MelConfig
from sda_models.memorisation import MemorisationMonitor
from sda_models.prior import CodePrior, evaluate_prior, prior_train_step, random_code_windows, sample
from sda_models.training import lr_at

log = logging.getLogger(__name__)

ENCODE_CHUNK_FRAMES = 2048
MAX_VAL_WINDOWS = 16
ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


@contextlib.contextmanager
def eval_mode(model: ModuleT) -> Iterator[ModuleT]:
    """``model`` in eval mode for the block, then back in the mode it was in."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


@torch.no_grad()
def encode_audio_codes(ae: AutoencoderStage, waves: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each wave ``(T,)`` → codes ``(levels, T // hop / downsample)`` (CPU long), in chunks."""
    out = []
    with eval_mode(ae.model) as model:
        mel = MelConfig()
        hop = mel.hop_length * ENCODE_CHUNK_FRAMES
        for w in waves:
            parts = []
            for start in range(0, max(1, w.numel()), hop):
                chunk = w[start:start + hop]
                if chunk.numel() < mel.n_fft:
                    if parts:
                        break
                    chunk = torch.nn.functional.pad(chunk, (0, mel.n_fft - chunk.numel()))
                x = ae.mel_norm(chunk[None])
                parts.append(model.encode_codes(x)[0].cpu())
            out.append(torch.cat(parts, dim=-1))
    return out


@torch.no_grad()
def encode_cached_copies(ae: AutoencoderStage) -> list[torch.Tensor]:
    """The codes of the autoencoder stage's augmented log-mel copies (:class:`MelCache`, variant 1 on; none
    without a cache): the prior learns the same material in the variations the autoencoder learnt it in, so on
    5-20 files it does not learn the few sequences by heart within a few hundred steps."""
    if ae.cache is None:
        return []
    out = []
    with eval_mode(ae.model) as model:
        for copy in ae.cache.copies[1:]:
            for mel in copy:
                parts = [model.encode_codes(mel[None, :, s:s + ENCODE_CHUNK_FRAMES].to(ae.device))[0].cpu()
                         for s in range(0, mel.shape[-1], ENCODE_CHUNK_FRAMES)]
                out.append(torch.cat(parts, dim=-1))
    return out


@torch.no_grad()
def silence_codes(ae: AutoencoderStage, frames: int) -> torch.Tensor:
    """``(levels, frames)``: the codes of digital silence (what follows a short file, as in the mel cache)."""
    waves = torch.zeros(1, (frames * ae.cfg.downsample + 2) * MelConfig().hop_length)
    with eval_mode(ae.model) as model:
        return model.encode_codes(ae.mel_norm(waves))[0, :, :frames].cpu()


def pad_with(seq: torch.Tensor, silence: torch.Tensor) -> torch.Tensor:
    """``seq`` followed by ``silence`` when it is shorter than a window, so a one-shot's window ends in the
    silence its file ended in instead of looping back to its attack (texture and loop sets stay looped: padded
    with silence, their priors learnt to fall silent, and the textures they generate dip out)."""
    short = silence.shape[-1] - seq.shape[-1]
    return torch.cat([seq, silence[:, :short]], dim=-1) if short > 0 else seq


class PriorStage(TorchStage):
    """The code prior's training stage (a :class:`~sda_engine.train.stage.Stage` for the loop).

    Registered state: the prior's weights (its best state), the optimizer, the torch and sampler RNG and the
    memorisation monitor; the frozen autoencoder's weights and statistics are written too (the constructor
    reads them back before it extracts the codes).

    Args:
        cfg / tr: prior and training configs (``tr.segment_frames`` mel frames per window).
        ae: the trained autoencoder stage (frozen here).
        ckpt: a prior-stage checkpoint to take the autoencoder weights from (resume).
        init_prior: an existing prior to continue training (growing a model).
        oneshots: the material is one-shots: a file shorter than a window is followed by the codes of silence
            (it ended in silence); otherwise it is looped (a texture or a loop goes on).
    """

    def __init__(self, cfg: Any, tr: Any, ae: AutoencoderStage, data: TrainingData, device: torch.device,
                 home: SdaHome, name: str, ckpt: Checkpoint | None = None, init_prior: Any = None,
                 oneshots: bool = False) -> None:
        super().__init__()
        self.cfg, self.tr, self.ae, self.data, self.device = cfg, tr, ae, data, device
        self.home, self.name = home, name
        if ckpt is not None and ckpt.stage == "prior":
            ae.load_weights(ckpt)
        self.window = min(cfg.context_frames, max(2, tr.segment_frames // ae.cfg.downsample))
        self.clean_codes = encode_audio_codes(ae, [torch.from_numpy(it.samples) for it in data.train_items])
        self.augmented = encode_cached_copies(ae)
        self.train_codes = self.clean_codes + self.augmented
        self.val_codes = encode_audio_codes(ae, [torch.from_numpy(it.samples) for it in data.val_items])
        if oneshots:
            silence = silence_codes(ae, self.window)
            self.train_codes = [pad_with(seq, silence) for seq in self.train_codes]
            self.val_codes = [pad_with(seq, silence) for seq in self.val_codes]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(tr.seed + 1)
            self.prior = CodePrior(cfg).to(device)
        if init_prior is not None:  # growing: continue from the existing model's prior
            self.prior.load_state_dict(init_prior.state_dict())
        self.optimizer = torch.optim.AdamW(self.prior.parameters(), lr=tr.lr, betas=tuple(tr.betas),
                                           weight_decay=tr.weight_decay)
        self.trained: Any = distributed.wrap(self.prior, device)  # DistributedDataParallel in a DDP run
        self.val_batch = self._val_windows()
        self.monitor = MemorisationMonitor()
        self._last_train_ppl = math.inf
        self.register_part("autoencoder", SaveOnlyPart(ModulePart("autoencoder", ae.model)))
        self.register_stateful("prior", self.prior)
        self.register_best_state("prior")
        self.register_stateful("optim.prior", self.optimizer)
        self.register_rng(data.generator)
        self.register_part("stats", SavedTensorsPart(lambda: ae.stats.to_tensors(STATS_PREFIX)))
        self.register_meta("memorisation", lambda: self.monitor.to_dict(), self._set_monitor)

    def _set_monitor(self, state: dict[str, Any]) -> None:
        self.monitor = MemorisationMonitor.from_dict(state)

    def _val_windows(self) -> torch.Tensor | None:
        wins = []
        for seq in self.val_codes:
            if 0 < seq.shape[-1] < self.window:
                seq = seq.repeat(1, -(-self.window // seq.shape[-1]))
            for start in range(0, seq.shape[-1] - self.window + 1, self.window):
                wins.append(seq[:, start:start + self.window])
                if len(wins) >= MAX_VAL_WINDOWS:
                    break
        return torch.stack(wins).to(self.device) if wins else None

    def train_step(self, step: int) -> dict[str, float]:
        self.step = step
        batch = random_code_windows(self.train_codes, self.tr.batch_size, self.window, self.data.generator)
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(step - 1, self.tr, self.time_fraction)
        stats = prior_train_step(self.trained, self.optimizer, batch.to(self.device), self.tr.grad_clip or None)
        self._last_train_ppl = stats["perplexity"]
        return stats

    def evaluate(self) -> dict[str, float] | None:
        if self.val_batch is None:
            return None
        m = evaluate_prior(self.prior, self.val_batch)
        return {"val_loss": m["loss"], "val_perplexity": m["perplexity"], "val_accuracy": m["accuracy"]}

    def after_eval(self, step: int, entry: dict[str, float]) -> list[str]:
        if "val_perplexity" not in entry:
            return []
        verdict = self.monitor.update(step, math.exp(min(entry["train_loss"], 50.0)), entry["val_perplexity"])
        return [f"stop: {verdict.reason}"] if verdict.stop else []

    @torch.no_grad()
    def preview(self, step: int) -> str | None:
        if self.ae.vocoder is None:
            return None
        codes = sample(self.prior, self.window * 2, cpu_generator(step))
        with eval_mode(self.ae.model) as model:
            mel = self.ae.stats_dev.denormalize(model.decode_codes(codes[None].to(self.device)))[0].float().cpu()
        audio = self.ae.vocoder.synthesize(mel)
        path = self.home.previews_dir / self.name / f"prior-step{step:07d}.wav"
        return str(write_preview(path, np.asarray(audio, np.float32)))
