"""``sda vocoder download|status``: the pretrained BigVGAN-v2 weights and what each model can use."""

from __future__ import annotations

from pathlib import Path

import typer

from sda_cli.errors import handle_errors
from sda_cli.output import console, print_json, print_table

vocoder_app = typer.Typer(help="Vocoders: download BigVGAN weights, see what each model uses.", no_args_is_help=True)


@vocoder_app.command("download")
@handle_errors
def download(
    local: Path | None = typer.Option(None, "--from", "--bigvgan-weights", help="Use a local bigvgan_generator.pt (or its folder) instead."),
    check: bool = typer.Option(True, "--check/--no-check", help="Load the weights once to verify names and shapes."),
) -> None:
    """Fetch the BigVGAN-v2 universal vocoder weights (about 490 MB) into the Hugging Face cache.

    This is the only network access sda ever makes, and only when you run this command (or pick
    --vocoder bigvgan without the weights). Offline, copy the file over and use --from PATH.
    """
    from sda_cli.environment import bigvgan_weights
    from sda_cli.progress_view import RichEventView
    from sda_engine import load_bigvgan_generator, resolve_bigvgan_weights

    with RichEventView() as view:
        weights = resolve_bigvgan_weights(bigvgan_weights(local), allow_download=True, on_event=view)
    console.print(f"BigVGAN weights ({weights.source}): {weights.checkpoint}")
    if check:
        load_bigvgan_generator(weights)
        console.print("checked: every parameter name and shape matches the architecture")


@vocoder_app.command("status")
@handle_errors
def status(json_out: bool = typer.Option(False, "--json")) -> None:
    """Which vocoders are available offline, and which one `auto` picks for each model."""
    from sda_audio.errors import SdaError
    from sda_cli.environment import bigvgan_weights
    from sda_engine import ModelLibrary, resolve_bigvgan_weights

    try:
        weights = resolve_bigvgan_weights(bigvgan_weights(), allow_download=False)
        bigvgan = {"available": True, "path": str(weights.checkpoint), "source": weights.source}
    except SdaError as exc:
        bigvgan = {"available": False, "why": str(exc)}
    library = ModelLibrary()
    models = []
    for record in library.list_models():
        corpus = library.corpus_index_path(record.name).is_file()
        check = _hifigan_check(record.path) if record.has_vocoder else None
        usable = record.has_vocoder and (check is None or bool(check.get("beats_floor", True)))
        auto = "hifigan" if usable else "bigvgan" if bigvgan["available"] else "corpus"
        models.append({"model": record.name, "own_hifigan": record.has_vocoder, "hifigan_check": check,
                       "corpus_index": corpus, "auto_choice": auto})
    if json_out:
        print_json({"bigvgan": bigvgan, "models": models})
        return
    if bigvgan["available"]:
        console.print(f"BigVGAN-v2 universal: available ({bigvgan['source']}: {bigvgan['path']})")
    else:
        console.print(f"BigVGAN-v2 universal: [yellow]not available[/] - {bigvgan['why']}")
    console.print("corpus resynthesis: always available (built from each model's own recordings)")
    if models:
        print_table("Per model", ["model", "own HiFi-GAN", "vs Griffin-Lim floor (mel L1)", "corpus index",
                                  "auto picks"],
                    [[m["model"], m["own_hifigan"], _check_text(m["hifigan_check"]) if m["own_hifigan"] else "-",
                      m["corpus_index"], m["auto_choice"]] for m in models])


def _hifigan_check(model_path: str | Path) -> dict | None:
    """The HiFi-GAN's stored check against the Griffin-Lim floor (``None``: trained before checks)."""
    from sda_audio.errors import SdaError
    from sda_engine import read_metadata

    try:
        return (read_metadata(model_path).get("vocoder") or {}).get("validation")
    except SdaError:
        return None


def _check_text(check: dict | None) -> str:
    if not check:
        return "not checked"
    verdict = "beats it" if check.get("beats_floor") else "below it"
    return f"{verdict} ({check['mel_l1']:.3f} vs {check['floor_mel_l1']:.3f})"
