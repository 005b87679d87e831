"""The base model's corpus: broad, legally usable audio rendered by one command (``sda base corpus OUT/``).

- :mod:`sda_engine.base.gm`: General MIDI program names, pitch ranges, drum notes and Fluid R3 GM's kits.
- :mod:`sda_engine.base.midi`: MIDI files (``mido``) rendered by the external ``fluidsynth`` program.
- :mod:`sda_engine.base.plan`: which sounds a corpus of a given size and seed holds.
- :mod:`sda_engine.base.corpus`: rendering them resumably, with a manifest.

sda's own synthesis recipes are numpy-only and live in :mod:`sda_audio.synth_corpus`.
"""
