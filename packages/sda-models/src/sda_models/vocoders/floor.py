"""The quality floor a vocoder must beat, and the round-trip measures it is judged by.

Griffin-Lim is not a product path (it never renders a user's sound). It appears here only as the
*floor*: a per-model HiFi-GAN that does not beat it on the model's own validation audio is not picked
by ``--vocoder auto`` (see :mod:`sda_models.vocoders.select`), and ``benchmarks/vocoders.py`` puts every
vocoder next to it. The measures are the mel round trip L1 (canonical log-mel of the vocoder's output
against the log-mel it was given) and a multi-resolution STFT distance to the original audio.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torchaudio

from sda_models.mel import LogMel, MelConfig, mel_filterbank
from sda_models.vocoders.base import Vocoder


class GriffinLimFloor(Vocoder):
    """The floor: least-squares mel -> linear magnitude, then ``n_iter`` Griffin-Lim iterations (seeded)."""

    name = "griffin-lim"

    def __init__(self, n_iter: int = 64, seed: int = 0, config: MelConfig | None = None) -> None:
        self.config = config or MelConfig()
        self.pinv = torch.linalg.pinv(mel_filterbank(self.config))  # (n_freqs, n_mels)
        self.n_iter = n_iter
        self.seed = seed

    def synthesize(self, log_mel: torch.Tensor) -> np.ndarray:
        cfg = self.config
        n, hop = log_mel.shape[1], cfg.hop_length
        mag = (self.pinv @ torch.exp(torch.as_tensor(log_mel).float())).clamp_min(0.0)
        mag = torch.cat([mag, mag[:, -1:]], dim=1)  # a centred STFT of n*hop samples has n+1 frames
        gl = torchaudio.transforms.GriffinLim(n_fft=cfg.n_fft, n_iter=self.n_iter, win_length=cfg.win_length,
                                              hop_length=hop, power=1.0, length=n * hop)
        with torch.random.fork_rng(devices=[]):  # seeded random initial phase, global RNG left as it was
            torch.manual_seed(self.seed)
            y = gl(mag).numpy()
        # GriffinLim frames are centred at t*hop, the canonical mel's at t*hop + hop/2.
        return np.concatenate([np.zeros(hop // 2, np.float32), y[: n * hop - hop // 2]]).astype(np.float32)


def mrstft_distance(y: np.ndarray, x: np.ndarray) -> float:
    """Multi-resolution STFT distance: spectral convergence + log-magnitude L1 at 512/1024/2048.

    As in Parallel WaveGAN (Yamamoto et al. 2020): per resolution ``||X| - |Y||_F / ||X|_F`` plus the
    mean ``|log|X| - log|Y||``, averaged over the three; Hann window of ``n_fft``, hop ``n_fft / 4``.
    ``x`` is the original.
    """
    yt, xt = torch.as_tensor(y, dtype=torch.float32), torch.as_tensor(x, dtype=torch.float32)
    total = 0.0
    for n_fft in (512, 1024, 2048):
        win = torch.hann_window(n_fft)
        sy = torch.stft(yt, n_fft, n_fft // 4, window=win, return_complex=True).abs()
        sx = torch.stft(xt, n_fft, n_fft // 4, window=win, return_complex=True).abs()
        sc = torch.linalg.norm(sx - sy) / torch.linalg.norm(sx).clamp_min(1e-7)
        mag = (torch.log(sx.clamp_min(1e-5)) - torch.log(sy.clamp_min(1e-5))).abs().mean()
        total += float(sc + mag)
    return total / 3


@dataclass(frozen=True)
class RoundTripScores:
    """Mean mel round-trip L1 (nats) and MR-STFT distance of a vocoder over some clips (lower is better)."""

    mel_l1: float
    mrstft: float
    clips: int

    def beats(self, other: RoundTripScores) -> bool:
        """Strictly better than ``other`` on both measures."""
        return self.mel_l1 < other.mel_l1 and self.mrstft < other.mrstft


def round_trip_scores(vocoder: Vocoder, clips: Iterable[np.ndarray | torch.Tensor],
                      config: MelConfig | None = None) -> RoundTripScores:
    """Render each clip's canonical log-mel with ``vocoder`` and score the result against the clip.

    Clips are mono, 44.1 kHz, a whole number of hops long.
    """
    logmel = LogMel(config or MelConfig())
    l1s, mrs = [], []
    for clip in clips:
        x = torch.as_tensor(clip, dtype=torch.float32).flatten()
        mel = logmel(x)
        y = np.asarray(vocoder.synthesize(mel), dtype=np.float32)[: x.shape[0]]
        if y.shape[0] < x.shape[0]:
            y = np.pad(y, (0, x.shape[0] - y.shape[0]))
        l1s.append(float((logmel(torch.from_numpy(y)) - mel).abs().mean()))
        mrs.append(mrstft_distance(y, x.numpy()))
    if not l1s:
        raise ValueError("no clips to score")
    return RoundTripScores(float(np.mean(l1s)), float(np.mean(mrs)), len(l1s))


def floor_comparison(vocoder: Vocoder, clips: list[np.ndarray | torch.Tensor], source: str,
                     config: MelConfig | None = None) -> dict[str, Any]:
    """``vocoder`` and the Griffin-Lim floor on the same clips, as JSON-able metadata.

    Keys: ``mel_l1``, ``mrstft``, ``floor_mel_l1``, ``floor_mrstft``, ``clips``, ``source`` (which audio,
    e.g. ``"validation"``) and ``beats_floor`` (better on both measures).
    """
    own = round_trip_scores(vocoder, clips, config)
    floor = round_trip_scores(GriffinLimFloor(config=config), clips, config)
    return {**{k: v for k, v in asdict(own).items()}, "floor_mel_l1": floor.mel_l1, "floor_mrstft": floor.mrstft,
            "source": source, "beats_floor": own.beats(floor)}
