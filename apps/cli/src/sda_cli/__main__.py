"""``python -m sda_cli ...`` runs the ``sda`` command (``torchrun -m sda_cli train ...`` needs it)."""

from sda_cli.main import app

if __name__ == "__main__":
    app(prog_name="sda")
