"""Morphs: a sound between two of the user's own recordings, in the model's own terms.

    session = ModelSession.open("drums", "cpu")
    results = morph_files(session, "kick.wav", "snare.wav", "out/", amounts=[0.0, 0.5, 1.0])
    # out/drums_001.wav (the model's kick), drums_002.wav (between), drums_003.wav (the model's snare)

At amount 0 the result is A (onset-aligned, through the model's vocoder: the model's rendition of A with the
detail it misses put back, see step 5; without it, what ``sda reconstruct`` makes of A), at 1 B, and between
them a blend made inside the model, not a crossfade of the two recordings:

1. **align**: each file (mono, the model's rate) starts just before its first strong onset
   (:func:`sda_audio.forms.first_event`, :data:`~sda_engine.generate.oneshots.PREROLL` before it) and ends where
   its sound ends (:attr:`~sda_audio.events.EventMap.sound_end`), so both attacks sit at the start (it is
   encoded with the rest of the file and a little silence after it, so its last frames see what follows);
2. **encode**: :func:`~sda_engine.generate.encoding.encode_audio` gives the latent the decoder reads: a VAE's
   posterior mean; for an RVQ model the *summed quantised embedding* of its code grid (the continuous latent
   before the decoder, not the code indices);
3. **match lengths**: the shorter latent is padded with the latent of silence (the model's encoding of a silent
   clip), so both run as long as the longer file plus room for a decay; the result's length is the
   interpolation of the two sounds' lengths, ``(1 - amount) * len(A) + amount * len(B)``. (The decoder
   normalises over time, so the shorter sound's end is its rendition in the longer one's context: close to, not
   bit-equal with, its reconstruction);
4. **interpolate**: linearly, frame by frame, ``(1 - amount) * z_A + amount * z_B``. For an RVQ model this
   interpolates the summed embeddings and decodes the continuous result: between the ends the decoder reads a
   latent that no code grid spells (it is not re-quantised), which is what makes the blend smooth;
5. **the sources' own detail** (:data:`DETAIL_MODES`): a small model hears a recording with its partials
   blurred and its attack softened (docs/quality.md, reconstruction proof). What it loses is known for each
   source: its log-mel minus the decoder's rendition of its latent, ``r``. ``blend`` (the default of a morph
   between two files) adds ``(1 - amount) * r_A + amount * r_B`` (onset-aligned, zero past each sound's end) to
   the decoded log-mel, so amount 0 is A itself rather than the model's blur of it and 1 is B; ``anchor`` (the
   one-shot variations) adds ``r_A`` alone: the real A moved by the model's own change towards B
   (``log-mel A + decode(z) - decode(z_A)``), so A's partials and pitch stay A's and are not layered with B's;
   ``none`` renders the model's interpolation alone. A sound made with its sources' detail ends in their own
   room: the material's room tone is not laid under it;
6. **render**: decode and vocode with the request's vocoder (the model's default for ``auto``), loudness as
   decoded (``dynamics`` 0, like a reconstruction), the request's channels and export settings;
7. **trim** (one-shot form: the model's own, or ``form="oneshot"``): cut at the end of the first event's decay
   with the one-shot helpers (:func:`~sda_engine.generate.oneshots.cut_events`, the decay carried on below
   the quiet level, a 10 ms fade), never mid-decay, and measure it with the one-shot checks. A texture or
   phrase model's morph is kept at the interpolated length with edge fades only: morphing two sounds is
   meaningful for any model, only the trimming is one-shot-specific.

Written through :func:`~sda_engine.store.generation_writer.write_generation`: the sidecar's ``notes["morph"]``
and ``parameters["morph"]`` say between which files, at which amount and how; the history records each file.
No seed is drawn: the same files, amount, model and settings give the same audio.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sda_audio.errors import SdaError
from sda_audio.events import detect_events
from sda_audio.forms import first_event
from sda_audio.io import read_audio
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_audio.resample import resample
from sda_audio.room_tone import lay_under
from sda_engine.generate.encoding import encode_audio
from sda_engine.generate.forms import oneshot_reference_of, resolve_form, room_tone_of
from sda_engine.generate.oneshots import (
    FADE,
    PREROLL,
    ROOM_TONE_STREAM,
    continue_decay,
    cut_events,
    finish_cut,
    measure,
    report_notes,
    room_tone_note,
)
from sda_engine.generate.renderer import Renderer
from sda_engine.generate.rendering import MEL_FLOOR, rendition
from sda_engine.generate.request import MAX_VARIATIONS, GenerationRequest
from sda_engine.generate.session import MEL, ModelSession
from sda_engine.generate.sketch import RenderedAudio, Sketch
from sda_engine.store.generation_writer import (
    GenerationResult,
    check_output_dir,
    output_paths,
    refuse_existing,
    write_generation,
)
from sda_models.mel import LogMel

log = logging.getLogger(__name__)

JOB = "generate"
TAIL_SILENCE = 0.25
"""Seconds of silence appended to each aligned file before it is encoded (the context after its last sound)."""
DECAY_ROOM = 0.5
"""A one-shot morph is rendered this much longer than its length (at most half that length again, at least
:data:`MIN_ROOM`), so its decay can end before it is trimmed."""
MIN_ROOM = 0.1
END_DB = -60.0
"""A morph with its sources' detail ends after its last 10 ms within this many dB of its loudest ..."""
END_OVER_FLOOR_DB = 6.0
"""... and this many dB above its own floor."""
DETAIL_MODES = ("blend", "anchor", "none")
"""How much of the sources' own detail a morph carries (step 5 of the module)."""
SILENCE_SECONDS = 0.5
"""How much silence is encoded to find the latent of silence (its middle frame pads the shorter latent)."""


def check_amount(amount: float) -> float:
    """``amount`` as a float in 0..1, or an :class:`SdaError` that says what it must be."""
    try:
        value = float(amount)
    except (TypeError, ValueError):
        raise SdaError(f"the morph amount must be a number from 0 to 1, not {amount!r}",
                       hint="0 = the first sound, 1 = the second, 0.5 = halfway") from None
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise SdaError(f"the morph amount {amount} is outside 0..1",
                       hint="0 = the first sound, 1 = the second, 0.5 = halfway")
    return value


def morph_amounts(amount: float | None = None, variations: int = 1) -> list[float]:
    """The amounts to morph at: ``[amount]``; without it, ``variations`` amounts spread evenly from 0 to 1
    (one variation: halfway). Both at once is refused: a morph draws no seed, so the copies would be equal."""
    n = int(variations)
    if not 1 <= n <= MAX_VARIATIONS:
        raise SdaError(f"cannot make {n} morphs", hint=f"choose 1 to {MAX_VARIATIONS} variations")
    if amount is not None:
        if n > 1:
            raise SdaError(f"a morph at amount {amount} is the same every time: {n} variations of it would be "
                           f"{n} equal files",
                           hint="give an amount for one morph, or several variations (amounts from 0 to 1)")
        return [check_amount(amount)]
    if n == 1:
        return [0.5]
    return [i / (n - 1) for i in range(n)]


@dataclass(frozen=True)
class MorphSource:
    """One of the two sounds, aligned and encoded.

    Attributes:
        path: the file; samples: its length from the onset to the end of its sound (samples at the model's rate).
        offset: seconds cut before its first strong onset; latent: ``(1, D, T')`` the decoder's input.
        mel: ``(n_mels, F)`` on the CPU: the log-mel of the aligned clip that was encoded (its detail is this minus
            the decoder's rendition of ``latent``, taken in the morph's own context: :meth:`Morph.detail_at`).
    """

    path: Path
    samples: int
    offset: float
    latent: torch.Tensor
    mel: torch.Tensor | None = None


@dataclass(frozen=True)
class Morph:
    """Two sounds encoded by one model, ready to be rendered at any amount (:meth:`render`)."""

    session: ModelSession
    a: MorphSource
    b: MorphSource
    silence: torch.Tensor
    """``(1, D, 1)``: the model's latent of silence (pads the shorter latent)."""
    detail: str = "blend"
    """Which of the sources' own detail is added (:data:`DETAIL_MODES`, step 5 of the module)."""

    def __post_init__(self) -> None:
        if self.detail not in DETAIL_MODES:
            raise ValueError(f"detail must be one of {DETAIL_MODES}, not {self.detail!r}")

    @classmethod
    def prepare(cls, session: ModelSession, file_a: str | Path, file_b: str | Path, detail: str = "blend") -> Morph:
        """Read, onset-align and encode both files (see the module). Raises :class:`SdaError` naming the file
        that is missing, unreadable or silent."""
        a, b = (_source(session, f) for f in (file_a, file_b))
        return cls(session, a, b, silence_latent(session), detail)

    @property
    def method(self) -> str:
        """How the latents are interpolated (for the notes)."""
        if self.session.kind == "rvq":
            how = "linear, of the summed quantised embeddings (decoded continuous, not re-quantised)"
        else:
            how = "linear, of the posterior means"
        if not self.uses_detail:
            return how
        if self.detail == "anchor":
            return how + "; the first sound's own detail added (the real first sound moved by the model's change)"
        return how + "; the two sounds' own detail blended at the amount and added"

    @property
    def uses_detail(self) -> bool:
        return self.detail != "none" and self.a.mel is not None and self.b.mel is not None

    def detail_at(self, amount: float, latent_frames: int) -> torch.Tensor | None:
        """``(n_mels, latent_frames * downsample)``: the sources' detail as :attr:`detail` says, at ``amount``;
        ``None`` when the morph renders the model's interpolation alone.

        A source's detail is its log-mel (the mel floor past its end) minus the decoder's rendition of its latent
        padded with silence to ``latent_frames``: the same context the morph's latent is decoded in (the decoder
        normalises over time, so a rendition depends on how long the decoded latent is)."""
        if not self.uses_detail:
            return None
        x = check_amount(amount)
        if self.detail == "anchor" or x == 0.0:
            return self._detail(self.a, latent_frames)
        if x == 1.0:
            return self._detail(self.b, latent_frames)
        return (1.0 - x) * self._detail(self.a, latent_frames) + x * self._detail(self.b, latent_frames)

    def _detail(self, source: MorphSource, latent_frames: int) -> torch.Tensor:
        assert source.mel is not None
        heard = rendition(self.session.bundle, _pad(source.latent, latent_frames, self.silence), self.session.device)
        true = _pad_frames(source.mel, heard.shape[-1], MEL_FLOOR)
        return true - heard

    def length(self, amount: float) -> int:
        """The morph's length in samples: the interpolation of both sounds' lengths."""
        x = check_amount(amount)
        return max(1, int(round((1.0 - x) * self.a.samples + x * self.b.samples)))

    def latent(self, amount: float, samples: int) -> torch.Tensor:
        """``(1, D, T')`` the interpolated latent, long enough to decode ``samples`` (both padded with silence)."""
        x = check_amount(amount)
        step = self.session.bundle.autoencoder.config.downsample * MEL.hop_length
        frames = max(self.a.latent.shape[-1], self.b.latent.shape[-1], math.ceil(samples / step) + 1)
        za, zb = (_pad(s.latent, frames, self.silence) for s in (self.a, self.b))
        return (1.0 - x) * za + x * zb

    def render(self, amount: float, request: GenerationRequest | None = None,
               renderer: Renderer | None = None, cancel: CancelToken | None = None,
               on_event: ProgressCallback = ignore_events) -> RenderedAudio:
        """The morph at ``amount`` (0 = A, 1 = B) as audio, trimmed at the end of its decay in the one-shot form;
        ``notes["morph"]`` says how it was made and ``notes["form"]`` (one-shot form) how it measured."""
        x = check_amount(amount)
        request = morph_request(request)
        session = self.session
        form, source = resolve_form(request, session.bundle.metadata, session.name)
        if form == "phrase" and source == "request":
            raise SdaError("a morph is one sound: it cannot be placed in a phrase",
                           hint="morph with the form auto, oneshot or texture")
        renderer = renderer or Renderer(session, request)
        sr = session.sample_rate
        target = self.length(x)
        trim = form == "oneshot"
        room = int(sr * max(MIN_ROOM, min(DECAY_ROOM, 0.5 * target / sr))) if trim else 0
        total = target + room
        if trim and self.uses_detail:  # the sources' whole clips: their own decays and rooms, to where they end
            step = session.bundle.autoencoder.config.downsample * MEL.hop_length
            total = max(total, max(self.a.latent.shape[-1], self.b.latent.shape[-1]) * step)
        latent = self.latent(x, total)
        sketch = Sketch("codes" if session.kind == "rvq" else "latents", total, latent=latent.to(session.device),
                        detail=self.detail_at(x, latent.shape[-1]))
        audio = renderer.render(sketch, on_event, cancel)
        notes: dict[str, Any] = {**audio.notes, "morph": {
            "between": [str(self.a.path), str(self.b.path)], "amount": round(x, 6), "method": self.method,
            "lengths": [round(self.a.samples / sr, 4), round(self.b.samples / sr, 4)],
            "target_length": round(target / sr, 4), "onset_offsets": [round(self.a.offset, 4), round(self.b.offset, 4)],
            "trimmed": trim, "detail": self.detail if self.uses_detail else "none",
        }}
        if trim:
            if self.uses_detail:
                samples, note = _end_with_sources(audio.samples, sr, session.bundle.metadata)
            else:
                samples, note = _trim_oneshot(audio.samples, sr, session.bundle.metadata, room)
            notes["form"] = {**note, "source": source, "target_length": round(target / sr, 4)}
        else:
            samples = finish_cut(audio.samples[:, :target], sr)
            log.info("'%s' is generated as a %s: the morph is kept at its length, not trimmed", session.name, form)
        return replace(audio, samples=samples, seed=None, notes=notes, seams=[s for s in audio.seams
                                                                              if s < samples.shape[-1]])


def morph_request(request: GenerationRequest | None = None) -> GenerationRequest:
    """The request a morph renders with: ``request`` (default: sda's defaults) with loudness as decoded
    (``dynamics`` 0, like a reconstruction: the ends are the model's renditions of the files) and one variation."""
    return (request or GenerationRequest()).replace(dynamics=0.0, variations=1)


def render_morph(session: ModelSession, file_a: str | Path, file_b: str | Path, amount: float,
                 request: GenerationRequest | None = None, cancel: CancelToken | None = None,
                 detail: str = "blend") -> RenderedAudio:
    """One morph, not written (a preview): ``Morph.prepare(...).render(amount, request)``."""
    check_amount(amount)
    return Morph.prepare(session, file_a, file_b, detail).render(amount, request, cancel=cancel)


def morph_files(session: ModelSession, file_a: str | Path, file_b: str | Path, output: str | Path | None = None,
                request: GenerationRequest | None = None, *, amounts: Sequence[float] | None = None,
                overwrite: bool = False, on_event: ProgressCallback = ignore_events,
                cancel: CancelToken | None = None, detail: str | None = None) -> list[GenerationResult]:
    """Write the morphs between ``file_a`` and ``file_b`` at ``amounts`` (default: :func:`morph_amounts` of the
    request's ``variations``: evenly from 0 to 1, or halfway for one).

    Args:
        session: the open model (any form; the one-shot form is trimmed, see the module).
        file_a / file_b: the two recordings (any rate and channels).
        output: a folder (``<model>_001.<ext>``, ``_002`` ... as one-shot packs are named), a file (``-v01`` ...
            added for several), or ``None``: new names in the history folder.
        request: export, vocoder, channels and form (default: sda's defaults); ``dynamics`` is set to 0.
        amounts: 0 = A, 1 = B; each in 0..1.
        overwrite: replace files already at ``output``; otherwise they are refused before any work.
        detail: which of the two sounds' own detail the morphs carry (:data:`DETAIL_MODES`, step 5 of the module);
            ``None``: the request's (``auto`` = ``blend``).
        on_event / cancel: job ``generate`` (step = files written); cancelling stops between files.

    Raises:
        SdaError: a file missing, unreadable or silent; an amount outside 0..1; a phrase form asked for; a taken
            file name (action ``overwrite``); an unwritable output folder.
    """
    cancel = cancel or CancelToken()
    base = request or GenerationRequest()
    xs = [check_amount(x) for x in amounts] if amounts is not None else morph_amounts(None, base.variations)
    if not xs:
        raise SdaError("no morph amounts given", hint="give one or more amounts from 0 to 1")
    one = morph_request(base)
    form, _ = resolve_form(one, session.bundle.metadata, session.name)
    paths = output_paths(output, session.name, one.export.extension, [None] * len(xs), session.home,
                         numbered=True)
    check_output_dir(paths[0].parent)
    if output is not None:
        refuse_existing(paths, overwrite)
    renderer = Renderer(session, one)  # vocoder and controls resolved before any work
    if detail is None:
        detail = "blend" if base.render.detail == "auto" else base.render.detail
    if detail not in DETAIL_MODES:
        raise SdaError(f"unknown morph detail '{detail}'", hint=f"use one of {', '.join(DETAIL_MODES)}")
    morph = Morph.prepare(session, file_a, file_b, detail)
    n = len(xs)
    on_event(ProgressEvent(JOB, "start", step=0, total=n,
                           message=f"morphing {morph.a.path.name} -> {morph.b.path.name} ({n} file(s)) with "
                                   f"'{session.name}' ({renderer.vocoder_name} vocoder, {form})"))
    results = []
    for i, (x, path) in enumerate(zip(xs, paths, strict=True)):
        cancel.raise_if_cancelled("generation")
        audio = morph.render(x, one, renderer, cancel, on_event)
        extra = {"variation": i + 1, "variations": n, "morph": {
            "between": [str(morph.a.path), str(morph.b.path)], "amount": round(x, 6)}}
        result = write_generation(audio, one, path, session, extra=extra, overwrite=overwrite,
                                  unique=output is None)
        results.append(result)
        on_event(ProgressEvent(JOB, "progress", step=i + 1, total=n,
                               message=f"wrote {result.path.name} (amount {x:g})", data={"path": str(result.path)}))
    on_event(ProgressEvent(JOB, "done", step=n, total=n, message=f"morphed {n} file(s)",
                           data={"paths": [str(r.path) for r in results]}))
    return results


# -- helpers ---------------------------------------------------------------------------------------------------
def _latent(sketch: Sketch) -> torch.Tensor:
    assert sketch.latent is not None  # encode_audio always gives the decoder's input
    return sketch.latent.detach().float()


def _pad_frames(mel: torch.Tensor, frames: int, value: float = 0.0) -> torch.Tensor:
    """``mel (n_mels, F)`` cut or padded with ``value`` to ``frames``."""
    if mel.shape[-1] >= frames:
        return mel[:, :frames]
    return torch.nn.functional.pad(mel, (0, frames - mel.shape[-1]), value=value)


def _pad(latent: torch.Tensor, frames: int, silence: torch.Tensor) -> torch.Tensor:
    """``latent`` ``(1, D, T')`` padded to ``frames`` with the silence frame ``(1, D, 1)``."""
    missing = frames - latent.shape[-1]
    if missing <= 0:
        return latent[..., :frames]
    return torch.cat([latent, silence.to(latent.device, latent.dtype).expand(-1, -1, missing)], dim=-1)


def silence_latent(session: ModelSession) -> torch.Tensor:
    """``(1, D, 1)``: the model's latent of silence (the middle frame of a silent clip's encoding)."""
    quiet = np.zeros(int(SILENCE_SECONDS * session.sample_rate), dtype=np.float32)
    silent = _latent(encode_audio(session, quiet, session.sample_rate))
    middle = silent.shape[-1] // 2
    return silent[..., middle:middle + 1].clone()


def _source(session: ModelSession, file: str | Path) -> MorphSource:
    """Read ``file``, cut it from just before its first strong onset to the end of its sound, and encode it."""
    path = Path(file).expanduser()
    if not path.exists():
        raise SdaError("the file to morph does not exist", path=path,
                       hint="give the path of one of your recordings")
    if path.is_dir():
        raise SdaError("is a folder, not a recording to morph", path=path, hint="give one audio file")
    clip = read_audio(path, mono=True)  # raises an SdaError naming the file when it cannot be decoded
    sr = session.sample_rate
    mono = clip.samples.reshape(-1).astype(np.float32)
    if clip.sample_rate != sr:
        mono = np.asarray(resample(mono[None], clip.sample_rate, sr), dtype=np.float32)[0]
    if mono.size == 0 or not np.any(np.abs(mono) > 1e-6):
        raise SdaError("is silent: there is no sound to morph", path=path, hint="give a recording with sound in it")
    return source_of_audio(session, mono, path.resolve())


def source_of_audio(session: ModelSession, mono: np.ndarray, path: Path) -> MorphSource:
    """``mono`` (the model's rate, not silent) cut from just before its first strong onset to the end of its
    sound and encoded; ``path`` names it."""
    sr = session.sample_rate
    events = detect_events(mono, sr)
    first = first_event(events)
    onset = first.onset if first is not None else events.sound_start
    start = max(0, int(round((onset - PREROLL) * sr)))
    sound = max(1, min(int(round(events.sound_end * sr)), mono.size) - start)
    # encoded from its onset, with its own tail and then silence after it: the sound is the same whatever silence
    # led into it in the file (the encoder normalises over time), and the decoder's last frames of the sound see
    # what follows it in the file, not the encoder's padding
    aligned = np.concatenate([mono[start:], np.zeros(int(TAIL_SILENCE * sr), dtype=np.float32)])
    latent = _latent(encode_audio(session, aligned, sr))
    return MorphSource(path=path, samples=sound, offset=start / sr, latent=latent, mel=log_mel_of(aligned))


def log_mel_of(mono: np.ndarray) -> torch.Tensor:
    """``(n_mels, F)`` on the CPU: the log-mel the model's encoder reads of ``mono`` (the model's rate)."""
    wave = torch.from_numpy(np.pad(mono, (0, max(0, MEL.n_fft - mono.shape[0]))).astype(np.float32))[None]
    with torch.no_grad():
        return LogMel(MEL)(wave)[0].float()


def _end_with_sources(samples: np.ndarray, sample_rate: int, metadata: dict[str, Any] | None
                      ) -> tuple[np.ndarray, dict[str, Any]]:
    """A morph that carries its sources' detail (their decays and their room, rendered over their whole clips):
    ``samples (C, T)`` ended after its last 10 ms that is both within :data:`END_DB` of its loudest and
    :data:`END_OVER_FLOOR_DB` above its own floor (the 10th percentile of its 10 ms levels: the sources' room, or
    the vocoder's quietest grain): a decay is never cut while it stands out of its room; then a short fade, and
    the one-shot checks of the result."""
    reference, has_reference = oneshot_reference_of(metadata)
    mono = samples.mean(axis=0)
    hop = max(1, int(0.01 * sample_rate))
    frames = mono[: mono.shape[0] // hop * hop].reshape(-1, hop)
    level = 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-20) if frames.size else np.zeros(0)
    if level.size:
        floor = float(np.percentile(level, 10))
        loud = np.flatnonzero(level >= max(level.max() + END_DB, floor + END_OVER_FLOOR_DB))
    else:
        loud = np.zeros(0, dtype=int)
    last = (int(loud[-1]) + 1) * hop if loud.size else mono.shape[0]
    end = min(samples.shape[-1], last + int(round(FADE * sample_rate)))
    cut = finish_cut(samples[:, :end], sample_rate)
    _, report = measure(cut.mean(axis=0), sample_rate, reference)
    note: dict[str, Any] = {
        "form": "oneshot", "passed": report.passed, "checks": report_notes(report), "failed": list(report.failed),
        "length": round(cut.shape[-1] / sample_rate, 4), "tail_carried_on": 0.0, "trimmed_at_decay": True,
        "silence": "the room of the sounds it was made from, to where the decay meets it",
        "reference": "the model's real one-shots" if has_reference else "defaults (the model has no one-shots)",
    }
    return cut, note


def _trim_oneshot(samples: np.ndarray, sample_rate: int, metadata: dict[str, Any] | None, room: int
                  ) -> tuple[np.ndarray, dict[str, Any]]:
    """``samples (C, T)`` cut at the end of the first strong event's decay (its decay carried on below the quiet
    level over at most ``room`` samples, then a fade), and the one-shot checks of the result."""
    reference, has_reference = oneshot_reference_of(metadata)
    mono = samples.mean(axis=0)
    events = detect_events(mono, sample_rate)
    cuts = cut_events(mono, sample_rate, events, max_tail=max(room / sample_rate, 0.05))
    tone = room_tone_of(metadata)
    if cuts:
        _, decay_end, end, event = min(cuts, key=lambda c: c[0])  # the first event: the aligned attack
        cut = continue_decay(samples[:, :end], decay_end)
        if tone is not None:  # the hit ends in the material's room, as generated one-shots do
            cut = lay_under(cut, tone, event.peak_db, sample_rate, [0, ROOM_TONE_STREAM])
        cut = finish_cut(cut, sample_rate)
        tail = (end - decay_end) / sample_rate
    else:  # no strong event (a quiet or flat morph): the interpolated length, faded
        cut = finish_cut(samples[:, : max(1, samples.shape[-1] - room)], sample_rate)
        tail = 0.0
    _, report = measure(cut.mean(axis=0), sample_rate, reference)
    note: dict[str, Any] = {
        "form": "oneshot", "passed": report.passed, "checks": report_notes(report), "failed": list(report.failed),
        "length": round(cut.shape[-1] / sample_rate, 4), "tail_carried_on": round(tail, 4),
        "trimmed_at_decay": bool(cuts), "silence": room_tone_note(tone) if cuts else "faded at its end (no hit to trim at)",
        "reference": "the model's real one-shots" if has_reference else "defaults (the model has no one-shots)",
    }
    return cut, note
