"""Choosing the vocoder for a generation (VOC-05): per-model HiFi-GAN > BigVGAN universal > corpus resynthesis.

A per-model HiFi-GAN counts for ``auto`` only when the check made at the end of its training says it
beats the Griffin-Lim floor on the model's validation audio: minutes of CPU training can leave it
worse than the alternatives, and ``auto`` should never make a model sound worse.

``auto`` never downloads: BigVGAN counts as available only when its weights are already on this
machine (an explicit path - the app's ``--bigvgan-weights`` or ``SDA_BIGVGAN_WEIGHTS``, read at the app's
edge and passed down - or the Hugging Face cache). Corpus resynthesis
needs no weights at all, so a fresh offline install always has a vocoder. Every choice comes with a
plain sentence saying why, for the user and the sidecar.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import torch

from sda_audio.errors import SdaError
from sda_models.device import resolve_device
from sda_models.vocoders.base import Vocoder, VocoderChoice
from sda_models.vocoders.corpus import CorpusVocoder, GrainSettings
from sda_models.vocoders.corpus_index import CorpusIndex

logger = logging.getLogger(__name__)

VocoderName = Literal["auto", "hifigan", "bigvgan", "corpus"]
VOCODER_CHOICES: tuple[str, ...] = ("auto", "hifigan", "bigvgan", "corpus")

HIFIGAN_HINT = "train the model's own vocoder first, or let sda choose the vocoder (auto)"
BIGVGAN_HINT = ("download the BigVGAN weights once while online (about 490 MB) or point sda at a local copy "
                "(SDA_BIGVGAN_WEIGHTS); or let sda choose the vocoder (auto)")
CORPUS_HINT = ("the corpus index is built from the model's training files during training; retrain the "
               "model with its dataset available, or let sda choose the vocoder (auto)")


def find_bigvgan_weights(local_path: Path | None = None) -> Path | None:
    """The local BigVGAN checkpoint (the explicit path the app passes, else the HF cache), never downloading."""
    from sda_models.vocoders.bigvgan_weights import resolve_bigvgan_weights

    try:
        return resolve_bigvgan_weights(local_path, allow_download=False).checkpoint
    except SdaError as exc:
        if local_path is not None:
            raise
        logger.info("BigVGAN weights not available offline: %s", exc)
        return None


def load_bigvgan(weights: Path, device: torch.device | str) -> Vocoder:
    """Load BigVGAN from a local checkpoint (no download)."""
    from sda_models.vocoders.bigvgan_vocoder import BigVGANVocoder

    return BigVGANVocoder.from_pretrained(weights, device=device, allow_download=False)


def load_hifigan(tensors: dict[str, torch.Tensor], config: dict[str, Any], device: torch.device | str) -> Vocoder:
    """Rebuild a model's own HiFi-GAN from its ``vocoder.*`` tensors and stored config."""
    from sda_models.vocoders.hifigan import HifiGanVocoder

    return HifiGanVocoder.from_tensors(tensors, config, device=device)


def load_corpus(index_path: Path, device: torch.device | str, settings: GrainSettings | None) -> CorpusVocoder:
    """Open a model's corpus index and wrap it in a :class:`CorpusVocoder`."""
    index = CorpusIndex.load(index_path)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    return CorpusVocoder(index, settings or GrainSettings(), device=dev)


def _corpus_sentence(vocoder: CorpusVocoder) -> str:
    n = vocoder.index.num_files
    return f"corpus resynthesis from {n} training file{'s' if n != 1 else ''}"


def _check_sentence(check: dict[str, Any] | None) -> str:
    """`` (on its validation audio: mel L1 a vs b, MR-STFT c vs d)``, or ```` without a check."""
    if not check:
        return ""
    where = str(check.get("source", "validation")).split(" ")[0]
    return (f" (on its {where} audio: mel L1 {check['mel_l1']:.3f} vs {check['floor_mel_l1']:.3f}, "
            f"MR-STFT {check['mrstft']:.3f} vs {check['floor_mrstft']:.3f})")


def select_vocoder(
    choice: str = "auto",
    *,
    bundle_vocoder_tensors: dict[str, torch.Tensor] | None = None,
    bundle_vocoder_config: dict[str, Any] | None = None,
    corpus_index_path: Path | None = None,
    bigvgan_weights: Path | None = None,
    device: torch.device | str = "auto",
    grain_settings: GrainSettings | None = None,
    bundle_vocoder_validation: dict[str, Any] | None = None,
) -> tuple[Vocoder, VocoderChoice]:
    """Pick and load a vocoder.

    Args:
        choice: ``auto`` (HiFi-GAN if the model has one that beats the Griffin-Lim floor, else BigVGAN if its weights are on this
            machine, else corpus resynthesis), or one of ``hifigan``, ``bigvgan``, ``corpus``.
        bundle_vocoder_tensors / bundle_vocoder_config: the model file's ``vocoder.*`` section.
        corpus_index_path: the model's corpus index in the library (may not exist yet).
        bigvgan_weights: an explicit local BigVGAN checkpoint or folder.
        device: where neural vocoders (and the corpus search) run.
        grain_settings: corpus vocoder settings (defaults when ``None``).
        bundle_vocoder_validation: the HiFi-GAN's check against the Griffin-Lim floor, stored when it
            was trained (:func:`sda_models.vocoders.floor.floor_comparison`). ``auto`` skips a HiFi-GAN
            whose check says it does not beat the floor; one trained before the check is used as before.

    Raises:
        SdaError: unknown choice, or the chosen vocoder cannot be made available (the message says how).
    """
    name = (choice or "auto").lower()
    if name not in VOCODER_CHOICES:
        raise SdaError(f"unknown vocoder '{choice}'", hint=f"use one of {', '.join(VOCODER_CHOICES)}")
    has_hifigan = bool(bundle_vocoder_tensors) and bundle_vocoder_config is not None
    has_corpus = corpus_index_path is not None and Path(corpus_index_path).is_file()

    if name == "hifigan":
        if not has_hifigan:
            raise SdaError("this model has no per-model HiFi-GAN vocoder", hint=HIFIGAN_HINT,
                           action="train_vocoder")
        return (load_hifigan(bundle_vocoder_tensors, bundle_vocoder_config, device),  # type: ignore[arg-type]
                VocoderChoice("hifigan", "using the model's own HiFi-GAN vocoder, as requested"))
    if name == "bigvgan":
        weights = find_bigvgan_weights(bigvgan_weights)
        if weights is None:
            raise SdaError("the BigVGAN vocoder weights are not on this machine", hint=BIGVGAN_HINT,
                           action="get_bigvgan")
        return (load_bigvgan(weights, device),
                VocoderChoice("bigvgan", f"using the BigVGAN-v2 universal vocoder ({weights}), as requested"))
    if name == "corpus":
        if not has_corpus:
            raise SdaError("this model has no corpus index for corpus resynthesis", path=corpus_index_path,
                           hint=CORPUS_HINT)
        vocoder = load_corpus(Path(corpus_index_path), device, grain_settings)  # type: ignore[arg-type]
        return vocoder, VocoderChoice("corpus", f"using {_corpus_sentence(vocoder)}, as requested")

    # auto
    check = bundle_vocoder_validation
    if has_hifigan and (check is None or check.get("beats_floor", True)):
        return (load_hifigan(bundle_vocoder_tensors, bundle_vocoder_config, device),  # type: ignore[arg-type]
                VocoderChoice("hifigan", f"the model has its own trained HiFi-GAN vocoder{_check_sentence(check)}; "
                                         "using it"))
    if has_hifigan:
        no_hifigan = (f"the model's own HiFi-GAN does not yet beat the Griffin-Lim floor{_check_sentence(check)}, "
                      "so auto passes it over (training the vocoder further can fix that; choosing the hifigan "
                      "vocoder uses it anyway)")
    else:
        no_hifigan = "no per-model HiFi-GAN trained"
    weights = find_bigvgan_weights(bigvgan_weights)
    if weights is not None:
        return (load_bigvgan(weights, device),
                VocoderChoice("bigvgan", f"{no_hifigan}; using the BigVGAN-v2 universal vocoder found at {weights}"))
    if has_corpus:
        vocoder = load_corpus(Path(corpus_index_path), device, grain_settings)  # type: ignore[arg-type]
        return vocoder, VocoderChoice("corpus", f"{no_hifigan} and no BigVGAN weights found offline; "
                                                f"using {_corpus_sentence(vocoder)}")
    raise SdaError("no vocoder is available for this model: no per-model HiFi-GAN, no BigVGAN weights on "
                   "this machine and no corpus index", path=corpus_index_path,
                   hint="download the BigVGAN weights once while online (or point sda at a local copy), train "
                        "the model's own vocoder, or retrain so the corpus index is built",
                   action="get_bigvgan")
