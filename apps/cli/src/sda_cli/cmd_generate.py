"""``sda generate``: new audio from a trained model, exported at the quality you ask for."""

from __future__ import annotations

from pathlib import Path

import typer

from sda_cli.errors import handle_errors
from sda_cli.output import console, print_json
from sda_cli.progress_view import event_view


def parse_blend(text: str) -> list[tuple[str, float]]:
    """``A:0.7,B:0.3`` -> ``[("A", 0.7), ("B", 0.3)]``, weights normalised to sum to 1."""
    from sda_audio.errors import SdaError

    pairs: list[tuple[str, float]] = []
    for item in text.split(","):
        name, _, weight = item.strip().rpartition(":")
        try:
            value = float(weight)
        except ValueError:
            name, value = item.strip(), float("nan")
        if not name or not value > 0:
            raise SdaError(f"cannot read blend entry '{item}'", hint="write MODEL:WEIGHT pairs, e.g. rain:0.7,bells:0.3")
        pairs.append((name, value))
    total = sum(w for _, w in pairs)
    return [(name, w / total) for name, w in pairs]


@handle_errors
def generate(
    model: str | None = typer.Argument(None, help="Model name from your library, or a .sda file."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output file or folder (default: history folder)."),
    duration: float | None = typer.Option(None, "--duration", "-d", help="Seconds, 0.1 to 600 (default 20)."),
    seed: int | None = typer.Option(None, "--seed", "-s", help="Same seed + settings = same sound (default 0)."),
    temperature: float | None = typer.Option(None, "--temperature", "-t", help="Wildness of sampling (default 1)."),
    top_k: int | None = typer.Option(None, "--top-k", help="Sample only from the k likeliest codes (0 = off)."),
    top_p: float | None = typer.Option(None, "--top-p", help="Nucleus sampling threshold (1 = off)."),
    brightness: float | None = typer.Option(None, "--brightness", help="Dark (-1) to bright (1); 0 = as learned.",
                                            rich_help_panel="Musical controls (-1..1)"),
    warmth: float | None = typer.Option(None, "--warmth", help="Thin (-1) to warm (1).",
                                        rich_help_panel="Musical controls (-1..1)"),
    roughness: float | None = typer.Option(None, "--roughness", help="Smooth (-1) to rough (1).",
                                           rich_help_panel="Musical controls (-1..1)"),
    tension: float | None = typer.Option(None, "--tension", help="Consonant (-1) to dissonant (1).",
                                         rich_help_panel="Musical controls (-1..1)"),
    rhythmic: float | None = typer.Option(None, "--rhythmic", help="Ambient (-1) to rhythmic (1).",
                                          rich_help_panel="Musical controls (-1..1)"),
    pulse: float | None = typer.Option(None, "--pulse", help="Weak (-1) to strong pulse (1).",
                                       rich_help_panel="Musical controls (-1..1)"),
    density: float | None = typer.Option(None, "--density", help="Sparse (-1) to dense (1).",
                                         rich_help_panel="Musical controls (-1..1)"),
    reverb: float | None = typer.Option(None, "--reverb", help="Dry (-1) to reverberant (1).",
                                        rich_help_panel="Musical controls (-1..1)"),
    control_mode: str | None = typer.Option(
        None, "--control-mode", help="How moved controls are realised: auto (as fitted, default), searched (a search "
                                     "in the model's own space), latent or assist (labelled DSP effects).",
        rich_help_panel="Musical controls (-1..1)"),
    channels: str | None = typer.Option(None, "--channels", "-c", help="mono, stereo (default) or binaural."),
    stereo_method: str | None = typer.Option(None, "--stereo-method", help="decorrelate (default), mid_side or dual."),
    format: str | None = typer.Option(None, "--format", "-f", help="wav (default), flac, mp3 or ogg."),
    sample_rate: int | None = typer.Option(None, "--sample-rate", "-r", help="44100, 48000 (default) or 96000."),
    bit_depth: int | None = typer.Option(None, "--bit-depth", "-b", help="16, 24 (default) or 32 (float)."),
    loudness: float | None = typer.Option(None, "--loudness", help="Normalise to this many LUFS (e.g. -14)."),
    variations: int | None = typer.Option(None, "--variations", "-n", help="Write K files with consecutive seeds."),
    form: str | None = typer.Option(None, "--form",
                                    help="auto (the model's, default), oneshot (single hits: NAME_001.wav ... in a "
                                         "folder), phrase (strokes with silence between) or texture."),
    between: tuple[Path, Path] | None = typer.Option(
        None, "--between", help="Morph between two of your sounds, FILE_A FILE_B (with --amount, or --variations for "
                                "amounts from 0 to 1).", rich_help_panel="Morph"),
    amount: float | None = typer.Option(None, "--amount", help="With --between: 0 = FILE_A, 1 = FILE_B (default 0.5).",
                                        rich_help_panel="Morph"),
    detail: str | None = typer.Option(
        None, "--detail", help="The fine detail of your recordings that the model blurs, put back: auto (default: "
                               "textures and phrases take it from your recordings' nearest moments; one-shots from "
                               "the hit they vary; a --between morph from both sounds, so amount 0 is FILE_A "
                               "itself), blend / anchor (morphs and one-shots: both sounds' detail at the amount / "
                               "the first sound's throughout) or none (the model's own, softer rendering)."),
    bpm: float | None = typer.Option(None, "--bpm", help="Phrase: the pulse onsets lock to (default: the material's)."),
    vocoder: str | None = typer.Option(None, "--vocoder", help="auto, hifigan, bigvgan or corpus."),
    blend: str | None = typer.Option(None, "--blend", help="Blend models, e.g. rain:0.7,bells:0.3."),
    preset: str | None = typer.Option(None, "--preset", help="Start from a saved preset; options override it."),
    azimuth: float | None = typer.Option(None, "--azimuth", help="Binaural: direction in degrees (+ = right)."),
    bigvgan_weights: Path | None = typer.Option(None, "--bigvgan-weights",
                                                help="Local BigVGAN bigvgan_generator.pt (or its folder); "
                                                     "default: $SDA_BIGVGAN_WEIGHTS."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace files (and sidecars) already at --output."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps (or set SDA_DEVICE)."),
    json_events: bool = typer.Option(False, "--json-events", help="Print one JSON object per progress event."),
) -> None:
    """Generate new audio from a model (and record it in your history)."""
    from sda_audio.errors import SdaError
    from sda_cli.environment import bigvgan_weights as weights_from_env  # --bigvgan-weights, else the env var
    from sda_engine import (
        GenerationRequest,
        ModelSession,
        PresetStore,
        generate_files,
        morph_amounts,
        morph_files,
    )

    blend_pairs = parse_blend(blend) if blend else None
    if model is None:
        if not blend_pairs:
            raise SdaError("name a model to generate from", hint="`sda models list` shows your models")
        model = blend_pairs[0][0]
        blend_pairs = blend_pairs[1:]
    request = GenerationRequest()
    if preset:
        request = PresetStore().show(preset, model=model).request()
    request = request.replace(
        duration=duration, seed=seed, temperature=temperature, top_k=top_k, top_p=top_p,
        brightness=brightness, warmth=warmth, roughness=roughness, tension=tension, rhythmic=rhythmic, pulse=pulse,
        density=density, reverb=reverb, control_mode=control_mode,
        channels=channels, stereo_method=stereo_method, format=format, sample_rate=sample_rate, bit_depth=bit_depth,
        vocoder=vocoder, loudness_lufs=loudness, azimuth=azimuth, variations=variations, blend=blend_pairs,
        form=form, bpm=bpm, detail=detail)
    if amount is not None and between is None:
        raise SdaError("--amount is the position of a morph", hint="give the two sounds with --between FILE_A FILE_B")
    amounts = morph_amounts(amount, request.variations) if between is not None else None  # checked before loading
    with event_view(json_events) as view:
        session = ModelSession.open(model, device, bigvgan_weights=weights_from_env(bigvgan_weights))
        if between is not None:
            results = morph_files(session, between[0], between[1], output, request, amounts=amounts,
                                  overwrite=overwrite, on_event=view)
        else:
            results = generate_files(session, request, output, overwrite=overwrite, on_event=view)
    if json_events:
        print_json({"results": [r.to_dict() for r in results]})
        return
    for result in results:
        morph = result.notes.get("morph")
        made = f"amount {morph['amount']:g}" if isinstance(morph, dict) else f"seed {result.seed}"
        form = result.notes.get("form")
        pair = form.get("between") if isinstance(form, dict) and form.get("method") == "variation" else None
        if isinstance(pair, list) and len(pair) == 2:
            made += f", {pair[0]} towards {pair[1]}"
        console.print(f"wrote [bold]{result.path}[/] ({made}, {result.duration:g} s, history #{result.history_id})")
    first = results[0]
    console.print(f"vocoder: {first.vocoder} - {first.vocoder_reason}")
    if isinstance(first.notes.get("detail"), str):
        console.print(f"detail: {first.notes['detail']} (--detail none: the model's own rendering)")
    realised = first.notes.get("controls") or {}
    if realised:
        console.print("controls: " + ", ".join(f"{name} {first.request.control.value(name):+g} ({how})"
                                               for name, how in sorted(realised.items())))
    if first.blend_method:
        console.print(f"blend: {first.blend_method}")
    shaped = [r.notes["form"] for r in results if isinstance(r.notes.get("form"), dict)]
    if between is not None:
        console.print(f"morph: {between[0].name} -> {between[1].name}"
                      + (", trimmed at the end of each decay" if shaped else ", kept at the interpolated length"))
    if shaped and shaped[0].get("form") == "oneshot":
        ok = sum(1 for n in shaped if n.get("passed"))
        how = (", each one of your own hits reshaped towards a neighbour" if between is None
               and shaped[0].get("method") == "variation" else "")
        console.print(f"form: one-shots{how}, {ok} of {len(shaped)} passed every one-shot check"
                      + ("" if ok == len(shaped) else " (the sidecars say which failed)"))
    elif shaped:
        console.print(f"form: phrase, {shaped[0].get('events')} strokes; density, pulse and rhythmic steered")
