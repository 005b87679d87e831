"""Generation: a model and a request become audio.

Owns the generation request, the warm model session (model, vocoders, blend partners), the pure rendering
steps (sample a sketch, decode, dynamics, density, vocode, assists, spatialise) and the composition that
writes files, sidecars and history entries through :mod:`sda_engine.store`.
"""
