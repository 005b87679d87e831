"""Training: a dataset becomes a ``.sda`` model.

Owns the training request and its plan (model size, configs, budgets), the training data pipeline, the one
training loop and its stages (autoencoder, prior, per-model vocoder), checkpoints and exact resume, and the
end of a run (corpus index, controls fit, the model file written into the library).
"""
