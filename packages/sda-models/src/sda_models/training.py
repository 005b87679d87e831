"""One optimisation step of the autoencoder, for the engine's trainer (which owns loops, I/O and events)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from sda_models.autoencoder import MelAutoencoder
from sda_models.configs import AutoencoderConfig, TrainingConfig
from sda_models.losses import autoencoder_loss


def make_optimizer(model: MelAutoencoder, training: TrainingConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters (RVQ codebooks are EMA buffers, not parameters)."""
    return torch.optim.AdamW((p for p in model.parameters() if p.requires_grad), lr=training.lr,
                             betas=(training.betas[0], training.betas[1]), weight_decay=training.weight_decay)


def lr_at(step: int, training: TrainingConfig, time_fraction: float | None = None) -> float:
    """Linear warm-up over ``warmup_steps`` then cosine decay to 10% of ``lr``: at ``max_steps`` (schedule
    ``steps``), or at the end of the stage's time budget (schedule ``time``; ``time_fraction``: the share of it
    spent, 0..1)."""
    if training.warmup_steps and step < training.warmup_steps:
        return training.lr * (step + 1) / training.warmup_steps
    if training.schedule == "time" and time_fraction is not None:
        progress = min(1.0, max(0.0, time_fraction))
    else:
        span = max(1, training.max_steps - training.warmup_steps)
        progress = min(1.0, (step - training.warmup_steps) / span)
    return training.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _finite_everywhere(loss: Tensor) -> bool:
    """Whether the loss is finite, in a DDP run on every rank (all skip the step together: one rank skipping
    its backward alone would leave the others waiting in the gradient all-reduce)."""
    finite = torch.isfinite(loss.detach()).float().reshape(1)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
    return bool(finite.item() > 0)


def train_step(model: MelAutoencoder, optimizer: torch.optim.Optimizer, batch_mel_norm: Tensor,
               config: AutoencoderConfig, step: int, *, grad_clip: float | None = 1.0,
               scaler: Any | None = None, amp_dtype: torch.dtype | None = None,
               generator: torch.Generator | None = None, attributes: Tensor | None = None) -> dict[str, float]:
    """Forward, loss, backward, clip, optimiser step on ``batch_mel_norm (B, n_mels, T)``.

    ``attributes (B, n)``: the windows' measured attributes for attribute regularisation (see
    :func:`sda_models.losses.autoencoder_loss`); ``None`` trains without it.

    ``amp_dtype`` (e.g. ``torch.bfloat16``) enables autocast for the forward pass; ``scaler`` is an optional
    ``torch.amp.GradScaler`` for float16. Returns the loss parts plus ``grad_norm`` as floats.
    """
    model.train()
    optimizer.zero_grad(set_to_none=True)
    device_type = batch_mel_norm.device.type
    if amp_dtype is not None:
        with torch.autocast(device_type=device_type, dtype=amp_dtype):
            output = model(batch_mel_norm, generator=generator)
    else:
        output = model(batch_mel_norm, generator=generator)
    total, metrics = autoencoder_loss(output, batch_mel_norm, config, step, attributes=attributes)
    if not _finite_everywhere(total):
        metrics["skipped"] = 1.0
        return metrics
    if scaler is not None:
        scaler.scale(total).backward()
        scaler.unscale_(optimizer)
    else:
        total.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    if grad_clip:
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    else:
        norm = torch.linalg.vector_norm(torch.stack([p.grad.detach().norm() for p in params if p.grad is not None])) if params \
            else torch.zeros(())
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    metrics["grad_norm"] = float(norm)
    return metrics


@torch.no_grad()
def eval_step(model: MelAutoencoder, batch_mel_norm: Tensor, config: AutoencoderConfig,
              step: int, attributes: Tensor | None = None) -> dict[str, float]:
    """Validation losses on ``batch_mel_norm`` in eval mode (VAE: posterior mean; RVQ: no EMA updates)."""
    was_training = model.training
    model.eval()
    try:
        output = model(batch_mel_norm)
        _, metrics = autoencoder_loss(output, batch_mel_norm, config, step, attributes=attributes)
    finally:
        model.train(was_training)
    return metrics
