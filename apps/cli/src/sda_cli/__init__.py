"""sda-cli: the ``sda`` command."""

__version__ = "0.1.0"
