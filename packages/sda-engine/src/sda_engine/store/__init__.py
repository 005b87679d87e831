"""What sda keeps on disk: the home folder, the SQLite catalogue, the model library, presets and history.

Everything here survives a crash: files are written atomically and records live in the catalogue.
"""
