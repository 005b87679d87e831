"""What the base corpus holds: a deterministic list of sounds for a size in minutes and a seed.

Three sources share the minutes: Fluid R3 GM's melodic programs (notes, chords and phrases; every program
0-127 at least once), its drum kits (every note 35-81 of the standard kit at least once, then more velocities,
other kits and grooves), and sda's own synthesis (:mod:`sda_audio.synth_corpus`). Sizes are estimates made
before rendering (a note's length plus a second of release); the manifest records the real durations.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sda_audio import synth_corpus
from sda_engine.base import gm

SOURCES = ("gm", "drums", "synth")
SHARES = {"gm": 0.55, "drums": 0.10, "synth": 0.35}
"""How the minutes are shared between the sources."""
DEFAULT_MINUTES = 120.0
VELOCITIES = (100, 60, 127, 35, 80)
LENGTHS = (0.6, 0.15, 2.5, 1.0, 0.3, 4.0)
PROGRAM_CYCLE = ("note", "note", "chord", "note", "phrase", "note", "note", "chord", "note", "phrase")
CHORDS = {"major": (0, 4, 7), "minor": (0, 3, 7), "sus4": (0, 5, 7), "dom7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11),
          "min7": (0, 3, 7, 10), "dim": (0, 3, 6), "fifth": (0, 7, 12), "cluster": (0, 1, 2, 3)}
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "pentatonic": (0, 2, 4, 7, 9),
          "chromatic": tuple(range(12)), "whole_tone": (0, 2, 4, 6, 8, 10)}
RELEASE_ESTIMATE = 1.0
QUICK_PROGRAMS = (0, 24, 40, 73)
QUICK_DRUMS = (36, 38, 42)


@dataclass(frozen=True)
class CorpusItem:
    """One sound of the corpus: its path under the corpus folder, source, kind and everything needed to make it."""

    path: str
    source: str
    kind: str
    spec: dict[str, Any] = field(default_factory=dict)
    estimate: float = 0.0

    @property
    def spec_sha(self) -> str:
        """A short hash of the spec: a file is reused on a later run only when this still matches."""
        text = json.dumps({"source": self.source, "kind": self.kind, "spec": self.spec}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _note(start: float, length: float, pitch: int, velocity: int) -> dict[str, Any]:
    return {"start": round(start, 4), "length": round(length, 4), "pitch": int(pitch), "velocity": int(velocity)}


def _program_items(program: int, seed: int, budget: float, quick: bool) -> list[CorpusItem]:
    """Notes, chords and phrases of one melodic program, in :data:`PROGRAM_CYCLE` order, until ``budget`` s."""
    low, high = gm.pitch_range(program)
    rng = np.random.default_rng([seed, 10, program])
    folder = f"gm/{program:03d}_{gm.slug(gm.PROGRAMS[program])}"
    offset = float(rng.random())
    items: list[CorpusItem] = []
    used = 0.0
    i = 0
    while quick or used < budget or not items:  # quick: the same few sounds whatever the budget
        kind = PROGRAM_CYCLE[i % len(PROGRAM_CYCLE)]
        if quick:  # one short note per program; the first program also a chord and a phrase
            kind = ("note", "chord", "phrase")[i] if program == QUICK_PROGRAMS[0] else "note"
        velocity = VELOCITIES[(i * 3 + program) % len(VELOCITIES)]
        if kind == "note":
            pitch = low + round(((offset + i * 0.6180339887) % 1.0) * (high - low))
            length = 0.3 if quick else LENGTHS[(i + program) % len(LENGTHS)]
            notes = [_note(0.0, length, pitch, velocity)]
            name = f"{i:02d}_note_m{pitch:03d}_v{velocity:03d}_l{length:.2f}"
        elif kind == "chord":
            chord = str(rng.choice(list(CHORDS)))
            root = int(rng.integers(low, max(low + 1, high - max(CHORDS[chord]) + 1)))
            length = 0.8 if quick else round(float(rng.uniform(1.0, 3.0)), 2)
            notes = [_note(0.0, length, root + step, velocity) for step in CHORDS[chord]]
            name = f"{i:02d}_chord_{chord}_m{root:03d}_v{velocity:03d}_l{length:.2f}"
        else:
            notes, style = _phrase(rng, low, high, 5 if quick else int(rng.integers(6, 13)))
            name = f"{i:02d}_phrase_{style}"
        end = max(n["start"] + n["length"] for n in notes)
        spec = {"program": program, "program_name": gm.PROGRAMS[program], "channel": 0, "notes": notes}
        items.append(CorpusItem(f"{folder}/{name}.flac", "gm", kind, spec, end + RELEASE_ESTIMATE))
        used += end + RELEASE_ESTIMATE
        i += 1
        if quick and (program != QUICK_PROGRAMS[0] or i == 3):
            break
    return items


def _phrase(rng: np.random.Generator, low: float, high: float, count: int) -> tuple[list[dict[str, Any]], str]:
    """A short phrase: a scale run, an arpeggio or a random walk, with varied steps, lengths and accents."""
    scale_name = str(rng.choice(list(SCALES)))
    scale = SCALES[scale_name]
    pitches = [p for p in range(int(low), int(high) + 1) if (p - int(low)) % 12 in scale]
    shape = str(rng.choice(["run_up", "run_down", "arpeggio", "walk"]))
    mid = len(pitches) // 2
    start_at = int(rng.integers(max(0, mid - 6), max(1, min(len(pitches) - 1, mid + 6))))
    idx, sequence = start_at, []
    for k in range(count):
        sequence.append(pitches[min(max(idx, 0), len(pitches) - 1)])
        step = {"run_up": 1, "run_down": -1, "arpeggio": 2 if k % 4 < 2 else -2}.get(shape)
        idx += step if step is not None else int(rng.choice([-2, -1, 1, 2]))
        if not 0 <= idx < len(pitches):
            idx = min(max(idx, 0), len(pitches) - 1)
    beat = float(rng.uniform(0.12, 0.4))
    legato = float(rng.uniform(0.4, 1.1))
    base_velocity = int(rng.integers(50, 110))
    notes, t = [], 0.0
    for k, pitch in enumerate(sequence):
        dur = beat * float(rng.choice([1, 1, 1, 2, 0.5]))
        velocity = int(np.clip(base_velocity + (20 if k % 4 == 0 else 0) + rng.integers(-10, 11), 1, 127))
        notes.append(_note(t, dur * legato, pitch, velocity))
        t += dur
    return notes, f"{shape}_{scale_name}"


def _drum_items(seed: int, budget: float, quick: bool) -> list[CorpusItem]:
    """Every standard-kit note at velocity 100 first, then grooves, softer and harder hits and the other kits."""
    rng = np.random.default_rng([seed, 20])
    passes: list[tuple[int, int]] = [(0, 100)] if quick else [(0, 100), (0, 50), (0, 127)]
    passes += [] if quick else [(kit, 100) for kit in gm.DRUM_KITS if kit != 0]
    items: list[CorpusItem] = []
    used = 0.0
    for number, (kit, velocity) in enumerate(passes):
        folder = f"drums/{kit:03d}_{gm.slug(gm.DRUM_KITS[kit])}"
        for note in QUICK_DRUMS if quick else gm.DRUM_NOTES:
            name = gm.slug(gm.DRUM_NAMES[note - 35])
            spec = {"program": kit, "kit": gm.DRUM_KITS[kit], "channel": 9,
                    "notes": [_note(0.0, 0.2, note, velocity)]}
            items.append(CorpusItem(f"{folder}/n{note:03d}_{name}_v{velocity:03d}.flac", "gm_drums", "hit", spec,
                                    0.2 + RELEASE_ESTIMATE))
            used += 0.2 + RELEASE_ESTIMATE
        if quick:
            break
        for g in range(2):
            kit_g = list(gm.DRUM_KITS)[(number * 2 + g) % len(gm.DRUM_KITS)]
            notes = _groove(rng)
            spec = {"program": kit_g, "kit": gm.DRUM_KITS[kit_g], "channel": 9, "notes": notes}
            end = max(n["start"] + n["length"] for n in notes)
            folder_g = f"drums/{kit_g:03d}_{gm.slug(gm.DRUM_KITS[kit_g])}"
            items.append(CorpusItem(f"{folder_g}/groove_{number:02d}_{g}.flac", "gm_drums", "groove", spec,
                                    end + RELEASE_ESTIMATE))
            used += end + RELEASE_ESTIMATE
        if used >= budget:
            break
    return items


def _groove(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Two bars of sixteenths: kick, snare, hats and an occasional tom, clap or cymbal, at a random tempo."""
    step = 60.0 / float(rng.uniform(70, 160)) / 4
    notes = []
    for s in range(32):
        t = s * step
        if s % 8 == 0 or rng.random() < 0.12:
            notes.append(_note(t, 0.1, 36, int(rng.integers(90, 128))))
        if s % 8 == 4 or rng.random() < 0.06:
            notes.append(_note(t, 0.1, int(rng.choice([38, 40, 39])), int(rng.integers(80, 128))))
        if s % 2 == 0 or rng.random() < 0.3:
            notes.append(_note(t, 0.05, int(rng.choice([42, 42, 44, 46])), int(rng.integers(40, 100))))
        if rng.random() < 0.05:
            notes.append(_note(t, 0.1, int(rng.choice([41, 43, 45, 47, 48, 50, 49, 51, 54, 56])),
                               int(rng.integers(60, 120))))
    return notes


def _synth_items(seed: int, budget: float, quick: bool) -> list[CorpusItem]:
    """sda's own sounds, cycling through :data:`sda_audio.synth_corpus.KINDS` until ``budget`` s."""
    items: list[CorpusItem] = []
    used = 0.0
    i = 0
    while used < budget or len(items) < len(synth_corpus.KINDS):
        kind = synth_corpus.KINDS[i % len(synth_corpus.KINDS)]
        index = i // len(synth_corpus.KINDS)
        recipe_seed = synth_corpus.recipe_seed(seed, kind, index)
        params = synth_corpus.draw_recipe(kind, recipe_seed, short=quick)
        room = params.get("room")
        estimate = params["seconds"] + (room["rt60"] * 0.5 if room else 0.0)
        spec = {"recipe": kind, "params": params, "seed": recipe_seed}
        items.append(CorpusItem(f"synth/{kind}/{kind}_{index:04d}.flac", "sda_synth", kind, spec, estimate))
        used += estimate
        i += 1
        if quick and len(items) == len(synth_corpus.KINDS):
            break
    return items


def plan_corpus(minutes: float = DEFAULT_MINUTES, seed: int = 0, quick: bool = False,
                sources: tuple[str, ...] = SOURCES) -> list[CorpusItem]:
    """The corpus for ``minutes`` of audio (estimated) and ``seed``: the same arguments always give the same list.

    ``quick`` makes a tiny corpus for tests (four programs, three drum notes, one sound of each synthesis kind,
    about 20 s) whatever ``minutes`` says. Every melodic program and every standard-kit drum note is always
    there (``minutes`` below about 4 gives them once each).
    """
    unknown = set(sources) - set(SOURCES)
    if unknown or not sources:
        raise ValueError(f"unknown corpus sources {sorted(unknown)}; choose from {SOURCES}")
    if minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    seconds = minutes * 60.0
    items: list[CorpusItem] = []
    if "gm" in sources:
        programs = QUICK_PROGRAMS if quick else range(128)
        for program in programs:
            items += _program_items(program, seed, seconds * SHARES["gm"] / 128, quick)
    if "drums" in sources:
        items += _drum_items(seed, seconds * SHARES["drums"], quick)
    if "synth" in sources:
        items += _synth_items(seed, seconds * SHARES["synth"], quick)
    return items
