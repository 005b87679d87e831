"""MIDI files (written with ``mido``) rendered by Debian's ``fluidsynth`` through the Fluid R3 GM soundfont.

``fluidsynth`` runs as an external program (``fluidsynth -ni -F out.wav -r 44100 -g GAIN SF2 in.mid``, plus
``-R 0 -C 0``: no built-in reverb or chorus, the corpus stays dry, and ``-O float``: no 16-bit floor under the
tails), one process per sound. Its fast renderer stops when the MIDI file ends, so each file ends with a
silent tail after the last note-off; :func:`render_notes` lengthens that tail until the sound has decayed
below -60 dB of its peak, then trims it there.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from sda_audio.errors import SdaError
from sda_audio.synth import trim_tail

SAMPLE_RATE = 44100
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
DEBIAN_PACKAGES = ("fluidsynth", "fluid-soundfont-gm")
INSTALL_HINT = "install the Debian packages " + " and ".join(DEBIAN_PACKAGES) + ": sudo apt-get install " + " ".join(
    DEBIAN_PACKAGES)
TICKS_PER_BEAT = 480
TEMPO = 500_000  # microseconds per beat: 120 bpm, so a second is 960 ticks
TICKS_PER_SECOND = TICKS_PER_BEAT * 1_000_000 // TEMPO
DRUM_CHANNEL = 9  # channel 10, counted from one
TAILS = (3.0, 10.0, 30.0)
"""Silent tails tried after the last note-off, seconds: the first after which the sound is below the floor wins."""
FLOOR_DB = -60.0


@dataclass(frozen=True)
class Note:
    """One note: onset and length in seconds, MIDI pitch (0-127) and velocity (1-127)."""

    start: float
    length: float
    pitch: int
    velocity: int


def write_midi(path: str | Path, notes: list[Note], program: int = 0, channel: int = 0,
               tail: float = 3.0) -> Path:
    """Write a one-track type-0 MIDI file: a program change, then ``notes``, then ``tail`` seconds of nothing
    (the end-of-track event comes ``tail`` s after the last note-off, so a renderer plays the release)."""
    import mido

    if not notes:
        raise ValueError("a MIDI file needs at least one note")
    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, message): note-offs before note-ons at a tick
    for note in notes:
        if not (0 <= note.pitch <= 127 and 1 <= note.velocity <= 127 and note.length > 0 and note.start >= 0):
            raise ValueError(f"not a playable note: {note}")
        on = round(note.start * TICKS_PER_SECOND)
        off = max(on + 1, round((note.start + note.length) * TICKS_PER_SECOND))
        events.append((on, 1, mido.Message("note_on", note=note.pitch, velocity=note.velocity, channel=channel)))
        events.append((off, 0, mido.Message("note_off", note=note.pitch, velocity=0, channel=channel)))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=TEMPO, time=0))
    track.append(mido.Message("program_change", program=program, channel=channel, time=0))
    now = 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(1, round(tail * TICKS_PER_SECOND))))
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    midi.save(str(path))
    return Path(path)


def fluidsynth_program() -> str | None:
    """The ``fluidsynth`` executable, or ``None`` when it is not installed."""
    return shutil.which("fluidsynth")


def check_fluidsynth(soundfont: str | Path = SOUNDFONT) -> tuple[str, Path]:
    """``(fluidsynth, soundfont)``, or an :class:`SdaError` naming the Debian packages to install."""
    program = fluidsynth_program()
    if program is None:
        raise SdaError("fluidsynth is not installed (no fluidsynth program on PATH), so the Fluid R3 GM part of "
                       "the corpus cannot be rendered", hint=INSTALL_HINT)
    soundfont = Path(soundfont)
    if not soundfont.is_file():
        raise SdaError("the Fluid R3 GM soundfont is missing", path=soundfont, hint=INSTALL_HINT)
    return program, soundfont


def render_midi(midi_path: str | Path, soundfont: str | Path = SOUNDFONT, gain: float = 0.5,
                timeout: float = 120.0) -> np.ndarray:
    """Render a MIDI file with ``fluidsynth`` and return it as mono float64 at 44.1 kHz (left and right averaged)."""
    program, soundfont = check_fluidsynth(soundfont)
    with tempfile.TemporaryDirectory(prefix="sda-fluid-") as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = [program, "-ni", "-q", "-R", "0", "-C", "0", "-O", "float", "-T", "wav", "-F", str(wav),
               "-r", str(SAMPLE_RATE), "-g", f"{gain:g}", str(soundfont), str(midi_path)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise SdaError(f"fluidsynth took over {timeout:.0f} s", path=midi_path) from exc
        if done.returncode != 0 or not wav.is_file():
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise SdaError(f"fluidsynth failed (exit {done.returncode}): {detail[-1] if detail else 'no output'}",
                           path=midi_path)
        audio, rate = sf.read(str(wav), dtype="float64", always_2d=True)
    if rate != SAMPLE_RATE:
        raise SdaError(f"fluidsynth wrote {rate} Hz, not {SAMPLE_RATE}", path=midi_path)
    return audio.mean(axis=1)


def tail_db(audio: np.ndarray, window: float = 0.05) -> float:
    """The loudest sample of the last ``window`` seconds, in dB relative to the whole sound's peak."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0:
        return -np.inf
    last = float(np.max(np.abs(audio[-max(1, int(window * SAMPLE_RATE)):])))
    return 20 * np.log10(max(last, 1e-300) / peak)


@dataclass(frozen=True)
class Rendered:
    """A rendered sound, trimmed after its decay; ``tail`` is the silent tail the render needed, ``decayed``
    whether the sound fell below the floor within the longest tail tried."""

    audio: np.ndarray
    tail: float
    decayed: bool


def render_notes(notes: list[Note], program: int = 0, channel: int = 0, soundfont: str | Path = SOUNDFONT,
                 gain: float = 0.5, floor_db: float = FLOOR_DB, tails: tuple[float, ...] = TAILS) -> Rendered:
    """Render ``notes`` on one GM ``program`` (``channel=9``: a drum kit) until the sound is ``floor_db`` below
    its peak, then trim it there."""
    audio = np.zeros(0)
    with tempfile.TemporaryDirectory(prefix="sda-midi-") as tmp:
        midi = Path(tmp) / "in.mid"
        for tail in tails:
            write_midi(midi, notes, program=program, channel=channel, tail=tail)
            audio = render_midi(midi, soundfont, gain)
            if tail_db(audio) < floor_db:
                return Rendered(trim_tail(audio, floor_db), tail, True)
    return Rendered(trim_tail(audio, floor_db), tails[-1], False)
