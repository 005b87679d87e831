"""Sketches that were not sampled, and the code-grid editor given a session's model.

- :func:`encode_audio` ``(session, samples, sample_rate) -> Sketch``: any recording in the model's own terms
  (an RVQ model's code grid, a VAE's posterior-mean latents);
- :func:`sketch_from_codes` ``(session, codes) -> Sketch``: an edited or loaded code grid, checked against the
  model;
- :func:`grid_ref`, :func:`check_grid`, :func:`encode_file`: :mod:`sda_control.codes` (which works on a
  :class:`~sda_models.model_file.ModelBundle` and knows no session) given what it needs of this one.

The apps reach :mod:`sda_control.codes` itself as ``sda_engine.codes``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sda_audio.errors import SdaError
from sda_audio.resample import resample
from sda_control import codes
from sda_control.codes import CodeGrid, ModelRef
from sda_engine.generate.session import MEL, ModelSession
from sda_engine.generate.sketch import Sketch
from sda_models.mel import LogMel

__all__ = ["check_grid", "codes", "encode_audio", "encode_file", "grid_ref", "sketch_from_codes"]


@torch.no_grad()
def encode_audio(session: ModelSession, samples: np.ndarray, sample_rate: int) -> Sketch:
    """Any audio (``(T,)`` or ``(C, T)``, any rate) -> its sketch: the code grid of an RVQ model
    (:func:`sda_control.codes.audio_to_codes`), the posterior-mean latents of a VAE. Channels are averaged;
    the rate is converted to the model's."""
    bundle, device = session.bundle, session.device
    audio = np.asarray(samples, dtype=np.float32)
    mono = audio.mean(axis=0) if audio.ndim == 2 else audio.reshape(-1)
    if sample_rate != session.sample_rate:
        mono = np.asarray(resample(mono[None], sample_rate, session.sample_rate), dtype=np.float32)[0]
    n = mono.shape[0]
    if n == 0:
        raise SdaError("the audio to encode is empty", hint="give a recording with sound in it")
    if session.kind == "rvq":  # the code-grid editor's encoder: one pipeline for both
        assert bundle.autoencoder.rvq is not None  # an rvq model always has its quantiser
        grid = codes.audio_to_codes(bundle, mono, session.sample_rate, session.name)
        return Sketch("codes", n, codes=grid, latent=bundle.autoencoder.rvq.decode_codes(grid[None].to(device)))
    wave = torch.from_numpy(np.pad(mono, (0, max(0, MEL.n_fft - n))))[None].to(device)
    mel = LogMel(MEL).to(device)(wave)
    ae = bundle.autoencoder
    was = ae.training
    ae.eval()
    try:
        return Sketch("latents", n, latent=ae.encode(bundle.stats.to(device).normalize(mel)))
    finally:
        ae.train(was)


def sketch_from_codes(session: ModelSession, grid: torch.Tensor, samples: int | None = None) -> Sketch:
    """An edited or loaded code grid ``(levels, T')`` of this model as a sketch (all its frames by default)."""
    if session.kind != "rvq":
        raise SdaError(f"'{session.name}' is a VAE model: it has no codes", hint="use an RVQ model for code grids")
    cfg = session.bundle.autoencoder.config
    if grid.dim() != 2 or grid.shape[0] != cfg.rvq_levels:
        raise SdaError(f"a code grid for '{session.name}' needs {cfg.rvq_levels} levels, got shape "
                       f"{tuple(grid.shape)}", hint="encode the audio with this model")
    if grid.numel() and (int(grid.min()) < 0 or int(grid.max()) >= cfg.codebook_size):
        raise SdaError(f"code indices must be 0..{cfg.codebook_size - 1} for '{session.name}'",
                       hint="encode the audio with this model")
    return Sketch.from_codes(grid, samples, downsample=cfg.downsample, hop=MEL.hop_length)


def grid_ref(session: ModelSession) -> ModelRef:
    """What a grid records about the session's model (name, sha256, levels, codebook size, file)."""
    return codes.model_ref(session.bundle, session.name, session.sha256, session.path)


def check_grid(grid: CodeGrid, session: ModelSession) -> None:
    """Refuse the session's model when its codes mean something else than the grid's."""
    codes.check_model(grid, session.bundle, session.name, session.sha256)


def encode_file(session: ModelSession, path: str | Path) -> CodeGrid:
    """An audio file -> its code grid in the session's model (the file's hash and format recorded)."""
    return codes.encode_file(session.bundle, grid_ref(session), path)
