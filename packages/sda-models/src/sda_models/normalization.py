"""Per-mel-band normalisation of log-mels: the models see zero-mean, unit-variance bands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

STD_FLOOR = 1e-3
_MEAN_KEY = "mean"
_STD_KEY = "std"


@dataclass(frozen=True)
class MelStats:
    """Mean and standard deviation of each mel band over a dataset, shapes ``(n_mels,)`` (float32)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __post_init__(self) -> None:
        if self.mean.dim() != 1 or self.mean.shape != self.std.shape:
            raise ValueError(
                f"MelStats needs 1-D mean and std of equal length, got {tuple(self.mean.shape)} "
                f"and {tuple(self.std.shape)}"
            )
        if not bool(torch.all(self.std > 0)):
            raise ValueError("MelStats std must be strictly positive")

    @property
    def n_mels(self) -> int:
        return int(self.mean.shape[0])

    def _shaped(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if mel.shape[-2] != self.n_mels:
            raise ValueError(f"expected {self.n_mels} mel bands in dim -2, got shape {tuple(mel.shape)}")
        mean = self.mean.to(device=mel.device, dtype=mel.dtype).unsqueeze(-1)
        std = self.std.to(device=mel.device, dtype=mel.dtype).unsqueeze(-1)
        return mean, std

    def normalize(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel ``(..., n_mels, T)`` → normalised ``(mel - mean) / std``."""
        mean, std = self._shaped(mel)
        return (mel - mean) / std

    def denormalize(self, mel_norm: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalize`: ``mel_norm * std + mean``."""
        mean, std = self._shaped(mel_norm)
        return mel_norm * std + mean

    @classmethod
    def from_mels(cls, mels: Iterable[torch.Tensor], std_floor: float = STD_FLOOR) -> MelStats:
        """Statistics from log-mels ``(n_mels, T)`` (or ``(B, n_mels, T)``), with float64 running sums.

        ``std`` is floored at ``std_floor`` so a constant band cannot blow up the normalisation.
        """
        total = sq_total = None
        count = 0
        for mel in mels:
            m = mel.detach().to("cpu", torch.float64)
            if m.dim() == 3:
                m = m.permute(1, 0, 2).reshape(m.shape[1], -1)
            if m.dim() != 2:
                raise ValueError(f"from_mels expects (n_mels, T) tensors, got {tuple(mel.shape)}")
            if total is None or sq_total is None:
                total = torch.zeros(m.shape[0], dtype=torch.float64)
                sq_total = torch.zeros(m.shape[0], dtype=torch.float64)
            elif m.shape[0] != total.shape[0]:
                raise ValueError(f"mel band count changed from {total.shape[0]} to {m.shape[0]}")
            total += m.sum(dim=1)
            sq_total += (m * m).sum(dim=1)
            count += m.shape[1]
        if total is None or sq_total is None or count == 0:
            raise ValueError("MelStats.from_mels needs at least one non-empty mel")
        mean = total / count
        var = torch.clamp(sq_total / count - mean * mean, min=0.0)
        std = torch.clamp(var.sqrt(), min=std_floor)
        return cls(mean=mean.float(), std=std.float())

    def to_tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Flat dict for safetensors: ``{prefix + 'mean': ..., prefix + 'std': ...}``."""
        return {prefix + _MEAN_KEY: self.mean.detach().cpu().contiguous(),
                prefix + _STD_KEY: self.std.detach().cpu().contiguous()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str = "") -> MelStats:
        """Inverse of :meth:`to_tensors`."""
        try:
            mean, std = tensors[prefix + _MEAN_KEY], tensors[prefix + _STD_KEY]
        except KeyError as err:
            raise ValueError(f"mel statistics tensor {err.args[0]!r} missing") from err
        return cls(mean=mean.float().clone(), std=std.float().clone())

    def to(self, device: torch.device | str) -> MelStats:
        return MelStats(mean=self.mean.to(device), std=self.std.to(device))
