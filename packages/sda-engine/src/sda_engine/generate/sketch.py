"""What generation hands between its steps: a :class:`Sketch` (what to play) and :class:`RenderedAudio`.

A sketch is the model's own description of a piece of sound before it is heard: the RVQ code grid
(``codes``, levels x frames) for RVQ models, or the VAE latent sequence (``latent``) for VAE models. The
GUI, the musical sliders and the code-grid editor work on sketches; the renderer
(:class:`~sda_engine.generate.renderer.Renderer`) turns one into :class:`RenderedAudio`, which
:func:`~sda_engine.store.generation_writer.write_generation` writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sda_models.mel import MelConfig


@dataclass(frozen=True)
class Sketch:
    """A piece of sound in the model's own terms.

    Attributes:
        kind: ``"codes"`` (an RVQ code grid) or ``"latents"`` (a VAE latent sequence).
        codes: ``(levels, T')`` LongTensor on the CPU (RVQ), else ``None``.
        latent: ``(1, D, T')`` float tensor (the decoder's input; for RVQ the summed code embeddings), or
            ``None`` when only codes are known (rendering decodes them).
        samples: the length of the audio it renders to, in samples at the model's sample rate.
        seed: the seed it was sampled with (``None`` for an encoded or edited sketch).
        detail: ``(n_mels, F)`` log-mel added to the decoded log-mel from its first frame (zero past its end), or
            ``None``: the fine detail of real recordings that the decoder does not reproduce (a morph's two
            sources', see :mod:`sda_engine.generate.morph`).
    """

    kind: str
    samples: int
    codes: torch.Tensor | None = None
    latent: torch.Tensor | None = None
    seed: int | None = None
    detail: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("codes", "latents"):
            raise ValueError(f"a sketch is 'codes' or 'latents', not {self.kind!r}")
        if self.codes is None and self.latent is None:
            raise ValueError("a sketch needs codes or a latent")
        if self.codes is not None and self.codes.dim() != 2:
            raise ValueError(f"codes must be (levels, frames), got {tuple(self.codes.shape)}")
        if self.latent is not None and self.latent.dim() != 3:
            raise ValueError(f"a latent must be (1, D, frames), got {tuple(self.latent.shape)}")
        if self.detail is not None and self.detail.dim() != 2:
            raise ValueError(f"detail must be (n_mels, frames), got {tuple(self.detail.shape)}")

    @classmethod
    def from_codes(cls, codes: torch.Tensor, samples: int | None = None, seed: int | None = None,
                   downsample: int = 1, hop: int | None = None) -> Sketch:
        """A code grid ``(levels, T')``; by default it renders to all its frames (``T' * downsample * hop``,
        ``hop`` from :class:`sda_models.mel.MelConfig`)."""
        if hop is None:
            hop = MelConfig().hop_length
        codes = codes.detach().long().cpu()
        return cls("codes", samples if samples is not None else codes.shape[-1] * downsample * hop, codes=codes,
                   seed=seed)

    @property
    def frames(self) -> int:
        """Latent frames (columns of the code grid)."""
        source = self.codes if self.codes is not None else self.latent
        assert source is not None
        return int(source.shape[-1])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (the codes themselves where there are any)."""
        out: dict[str, Any] = {"kind": self.kind, "frames": self.frames, "samples": self.samples, "seed": self.seed}
        if self.codes is not None:
            out["codes"] = self.codes.tolist()
        return out


@dataclass(frozen=True)
class RenderedAudio:
    """Rendered sound, not yet written to a file.

    Attributes:
        samples: ``(channels, T)`` float32 (1 channel for mono, 2 for stereo and binaural).
        sample_rate: Hz (the model's, :class:`~sda_models.mel.MelConfig`'s ``sampling_rate``).
        seed: the sketch's seed (``None`` for an encoded or edited sketch).
        vocoder / vocoder_reason: which vocoder made it, and why that one.
        channels: ``mono``, ``stereo`` or ``binaural``.
        seams: sample positions where vocoder chunks were crossfaded.
        notes: how the request was realised (``controls``: latent/steered/assisted per moved control) and
            where it could not be followed literally (for the sidecar).
        blend_method: ``"latent"`` (related models decode one latent path), ``"mix"`` (their audio is mixed)
            or ``None`` (no blend); blend: ``[{"model", "weight"}, ...]`` with the main model first, or ``None``.
    """

    samples: np.ndarray
    sample_rate: int
    seed: int | None
    vocoder: str
    vocoder_reason: str
    channels: str
    seams: list[int] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    blend_method: str | None = None
    blend: list[dict[str, Any]] | None = None

    @property
    def duration(self) -> float:
        return self.samples.shape[-1] / self.sample_rate
