"""General MIDI facts the base corpus needs: program names, each program's sensible pitch range, drum-kit
notes and the drum kits of the Fluid R3 GM soundfont."""

from __future__ import annotations

import re

PROGRAMS = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet",
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells", "Dulcimer",
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion", "Harmonica",
    "Tango Accordion",
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)", "Electric Guitar (clean)",
    "Electric Guitar (muted)", "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics",
    "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1",
    "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani",
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs",
    "Synth Voice", "Orchestra Hit",
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section", "Synth Brass 1",
    "Synth Brass 2",
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon", "Clarinet",
    "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)", "Lead 5 (charang)",
    "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)", "Pad 6 (metallic)",
    "Pad 7 (halo)", "Pad 8 (sweep)",
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)",
    "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)",
    "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom", "Synth Drum", "Reverse Cymbal",
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter", "Applause",
    "Gunshot",
)

FAMILY_RANGES = (
    (21, 108), (60, 96), (36, 96), (40, 84), (28, 60), (36, 96), (36, 96), (40, 84),
    (36, 96), (36, 96), (40, 88), (36, 96), (36, 96), (36, 96), (48, 84), (48, 72),
)
"""MIDI note ranges of the sixteen GM families (eight programs each), where no program overrides them."""

RANGES: dict[int, tuple[int, int]] = {
    8: (60, 96), 9: (72, 108), 10: (60, 96), 11: (53, 89), 12: (45, 96), 13: (65, 108), 14: (60, 77),
    15: (48, 84), 19: (24, 96), 21: (53, 89), 22: (60, 84), 23: (53, 89),
    40: (55, 100), 41: (48, 88), 42: (36, 76), 43: (28, 60), 44: (36, 96), 45: (36, 91), 46: (24, 103),
    47: (40, 57), 52: (48, 79), 53: (48, 79), 55: (36, 84),
    56: (54, 86), 57: (34, 72), 58: (28, 58), 59: (54, 84), 60: (34, 77), 61: (36, 84),
    64: (56, 88), 65: (49, 81), 66: (44, 76), 67: (36, 69), 68: (58, 91), 69: (52, 81), 70: (34, 72),
    71: (50, 91), 72: (74, 108), 73: (60, 96), 74: (60, 96), 75: (55, 91), 76: (60, 84), 77: (55, 88),
    78: (64, 96), 79: (60, 91),
    104: (48, 77), 105: (48, 84), 106: (50, 79), 107: (55, 91), 108: (60, 96), 109: (55, 81), 110: (55, 91),
    111: (60, 84), 112: (72, 96), 113: (60, 84), 114: (55, 88), 115: (60, 84), 116: (36, 60), 117: (40, 76),
    118: (36, 72), 119: (48, 72),
}

DRUM_NOTES = tuple(range(35, 82))
"""The GM percussion key map (channel 10): notes 35 (Acoustic Bass Drum) to 81 (Open Triangle)."""

DRUM_NAMES = (
    "Acoustic Bass Drum", "Bass Drum 1", "Side Stick", "Acoustic Snare", "Hand Clap", "Electric Snare",
    "Low Floor Tom", "Closed Hi-Hat", "High Floor Tom", "Pedal Hi-Hat", "Low Tom", "Open Hi-Hat", "Low-Mid Tom",
    "Hi-Mid Tom", "Crash Cymbal 1", "High Tom", "Ride Cymbal 1", "Chinese Cymbal", "Ride Bell", "Tambourine",
    "Splash Cymbal", "Cowbell", "Crash Cymbal 2", "Vibraslap", "Ride Cymbal 2", "Hi Bongo", "Low Bongo",
    "Mute Hi Conga", "Open Hi Conga", "Low Conga", "High Timbale", "Low Timbale", "High Agogo", "Low Agogo",
    "Cabasa", "Maracas", "Short Whistle", "Long Whistle", "Short Guiro", "Long Guiro", "Claves", "Hi Wood Block",
    "Low Wood Block", "Mute Cuica", "Open Cuica", "Mute Triangle", "Open Triangle",
)

DRUM_KITS = {0: "Standard", 8: "Room", 16: "Power", 24: "Electronic", 32: "Jazz", 40: "Brush", 48: "Orchestra"}
"""The GS drum kits (program numbers on channel 10) that Fluid R3 GM carries in bank 128 (its numbered
variants such as "Standard 1" are left out)."""


def pitch_range(program: int) -> tuple[int, int]:
    """The MIDI notes ``(low, high)`` in which ``program`` sounds like itself."""
    if not 0 <= program < 128:
        raise ValueError(f"GM programs are 0-127, got {program}")
    return RANGES.get(program, FAMILY_RANGES[program // 8])


def slug(text: str) -> str:
    """A file-name-safe lower-case form: ``"Electric Guitar (jazz)"`` -> ``"electric_guitar_jazz"``."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
