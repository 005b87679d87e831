"""``sda train``: validate a dataset, train a model in stages, save it to the library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from sda_cli.errors import err_console, handle_errors
from sda_cli.output import console, print_json, seconds
from sda_cli.progress_view import event_view


@handle_errors
def train(
    dataset: str | None = typer.Argument(None, help="Dataset folder or name (omit with --add to grow a model)."),
    model: str = typer.Option(..., "--model", "-m", help="Name of the model in your library."),
    kind: str = typer.Option("rvq", "--kind", help="rvq (RVQ-VAE + code prior) or vae (continuous VAE)."),
    size: str = typer.Option("auto", "--size", help="Model size: tiny, small, full or auto (from dataset size and device)."),
    max_minutes: float | None = typer.Option(None, "--max-minutes",
                                             help="Wall-clock budget for the whole job (every stage, across resumes; "
                                                  "default 10 unless --steps is given). Training stops earlier once "
                                                  "it has converged."),
    resume: bool = typer.Option(False, "--resume", help="Continue exactly from the last checkpoint."),
    vocoder_minutes: float = typer.Option(0.0, "--vocoder-minutes",
                                          help="Also train a per-model HiFi-GAN vocoder (inside --max-minutes)."),
    add: list[Path] = typer.Option([], "--add", help="Grow an existing model with these files (repeatable)."),
    steps: int | None = typer.Option(None, "--steps", help="Autoencoder steps: a fixed count instead of the time budget."),
    prior_steps: int | None = typer.Option(None, "--prior-steps", help="Prior steps: a fixed count instead of its share of the time."),
    checkpoint_every: int | None = typer.Option(None, "--checkpoint-every", help="Steps between checkpoints."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing model of the same name."),
    levels: int | None = typer.Option(None, "--levels", help="RVQ levels, 2-4 (default from the size)."),
    codebook_size: int | None = typer.Option(None, "--codebook-size",
                                             help="Codes per level (default: 64/128/256 by dataset size)."),
    codebook_dim: int | None = typer.Option(None, "--codebook-dim", help="Dimension of each code vector."),
    commitment_weight: float | None = typer.Option(None, "--commitment-weight", help="RVQ commitment loss weight."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps (or set SDA_DEVICE)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the data split, sampling and initialisation."),
    controls: bool = typer.Option(True, "--controls/--no-controls",
                                  help="Fit the eight musical controls after training (default: on)."),
    regularise_controls: bool = typer.Option(
        False, "--regularise-controls",
        help="Tie latent dimensions to brightness, warmth and rhythmic while training (AR-VAE), so those "
             "controls can move the latent itself."),
    form: str = typer.Option("auto", "--form",
                             help="Generate in this form: oneshot, phrase or texture (default: detected from the "
                                  "recordings)."),
    from_scratch: bool = typer.Option(False, "--from-scratch",
                                      help="Do not start from sda's base model (which has heard broad audio); "
                                           "train only on your recordings from random weights."),
    base: Path | None = typer.Option(None, "--base", help="Start from this base model file (sda base train "
                                                          "writes one) instead of the installed base."),
    json_events: bool = typer.Option(False, "--json-events", help="Print one JSON object per progress event."),
    processes: int = typer.Option(1, "--processes",
                                  help="Train in N processes (PyTorch DDP: gloo on the CPU, one GPU each on CUDA), "
                                       "launched by torchrun; each takes its own batches."),
    preset: str | None = typer.Option(None, "--preset", hidden=True,
                                      help="Deprecated name of --size (presets are saved generation settings)."),
) -> None:
    """Train a model on your recordings (Ctrl-C saves a checkpoint; --resume continues)."""
    from sda_audio.errors import SdaError
    from sda_audio.progress import CancelToken
    from sda_cli.cmd_dataset import resolve_dataset_folder
    from sda_engine import TrainOptions, plan_training, run_training

    if processes < 1:
        raise SdaError(f"--processes {processes}: train in 1 or more processes", hint="give --processes N with N >= 1")
    if resume:
        _check_resume_processes(model, processes if processes > 1 else _launched_processes())
    if processes > 1 and not _launched_processes() > 1:
        raise typer.Exit(_launch(processes))
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 reports

    options = TrainOptions(
        name=model, dataset=str(resolve_dataset_folder(dataset)) if dataset is not None else None,
        add=tuple(str(p) for p in add), kind=kind, size=_size_from(size, preset), max_minutes=max_minutes,
        resume=resume, vocoder_minutes=vocoder_minutes, steps=steps, prior_steps=prior_steps,
        checkpoint_every=checkpoint_every, overwrite=overwrite, rvq_levels=levels, codebook_size=codebook_size,
        codebook_dim=codebook_dim, commitment_weight=commitment_weight, device=device, seed=seed,
        controls=controls, regularise_controls=regularise_controls, form=form, base=_base_from(from_scratch, base))
    if not main_rank:
        run_training(plan_training(options), cancel=CancelToken())
        return
    with event_view(json_events) as view:
        result = run_training(plan_training(options, on_event=view), on_event=view, cancel=CancelToken())
    verdict = _verdict(result)
    if json_events:
        print_json({"result": result.to_dict(), "verdict": verdict})
        return
    console.print(f"trained [bold]{result.name}[/] ({result.kind}, size {result.size} on {result.device}) "
                  f"in {seconds(result.seconds)} -> {result.model_path}")
    if result.request is not None and result.request.base is not None:
        console.print(f"  start: {result.request.base.get('reason')}")
    for stage, info in result.stages.items():
        if "realisation" in info:  # the musical controls: how each one is realised for this model
            ways = info.get("realisation") or {}
            console.print(f"  {stage}: musical controls fitted ("
                          + ", ".join(f"{name} {how}" for name, how in ways.items()) + ")")
            continue
        best = info.get("best_val")
        console.print(f"  {stage}: {info.get('steps')} steps, stopped: {info.get('stop_reason')}"
                      + (f", best validation {best:.4g}" if isinstance(best, (int, float)) else ""))
    if result.recon_before is not None:
        console.print(f"  old files' reconstruction error: {result.recon_before:.4f} -> {result.recon_after:.4f}")
    for warning in result.warnings:
        console.print(f"  [yellow]warning:[/] {warning}")
    if verdict:
        console.print(f"verdict: {verdict}")
    console.print(f"next: [bold]sda generate {result.name} --duration 20 -o out.wav[/]")


def _launched_processes() -> int:
    """The processes torchrun started this one among (1: not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1")) if "RANK" in os.environ else 1


def _launch(processes: int) -> int:
    """Run this ``sda train`` again under ``python -m torch.distributed.run --nproc-per-node N -m sda_cli train
    ...`` (the same arguments without ``--processes``); its exit status."""
    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg == "--processes":
            skip = True
        elif not arg.startswith("--processes="):
            args.append(arg)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
               "-m", "sda_cli", *args]
    err_console.print(f"[dim]training in {processes} processes: {' '.join(command[1:])}[/]")
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:  # the workers got the Ctrl-C too: they save a checkpoint and stop
        return 130


def _check_resume_processes(model: str, processes: int) -> None:
    """``--resume`` continues with the number of processes that made the checkpoint (the engine checks it)."""
    from sda_engine import check_resume_processes

    check_resume_processes(model, processes)


def _verdict(result: object) -> str | None:
    """The engine's one-sentence "still improving / converged" verdict on the run's validation curve."""
    from sda_engine import training_verdict

    return training_verdict(result) or None


def _base_from(from_scratch: bool, base: Path | None) -> str | None:
    """``--from-scratch`` / ``--base FILE`` as the engine's base choice (``None``: the installed base where
    measured better)."""
    from sda_audio.errors import SdaError

    if from_scratch and base is not None:
        raise SdaError("--from-scratch and --base contradict each other", hint="give one of them")
    if from_scratch:
        return "none"
    return str(base) if base is not None else None


def _size_from(size: str, preset: str | None) -> str:
    """``--size``, or the deprecated ``--preset`` spelling of it (the two must agree when both are given)."""
    from sda_audio.errors import SdaError

    if preset is None:
        return size
    if size not in ("auto", preset):
        raise SdaError(f"--preset {preset} and --size {size} disagree", hint="give only --size")
    err_console.print("[dim]note: --preset is now called --size (presets are saved generation settings)[/]")
    return preset


@handle_errors
def train_vocoder(
    model: str = typer.Argument(..., help="Library model to give its own HiFi-GAN vocoder."),
    max_minutes: float = typer.Option(10.0, "--max-minutes", help="Wall-clock budget (total across resumes)."),
    resume: bool = typer.Option(False, "--resume", help="Continue exactly from the last vocoder checkpoint."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after this many steps."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps (or set SDA_DEVICE)."),
    seed: int = typer.Option(0, "--seed"),
    json_events: bool = typer.Option(False, "--json-events", help="Print one JSON object per progress event."),
) -> None:
    """Train a per-model HiFi-GAN vocoder on the model's own recordings (Ctrl-C saves; --resume continues)."""
    from sda_audio.progress import CancelToken
    from sda_engine import VocoderPlan, read_metadata
    from sda_engine import train_vocoder as run_training

    with event_view(json_events) as view:
        path = run_training(model, VocoderPlan(minutes=max_minutes, max_steps=max_steps), device=device, seed=seed,
                            resume=resume, on_event=view, cancel=CancelToken())
    if json_events:
        print_json({"model_path": str(path)})
        return

    check = (read_metadata(path).get("vocoder") or {}).get("validation") or {}
    console.print(f"model [bold]{model}[/] now has its own vocoder ({path}); "
                  f"`sda generate {model} --vocoder hifigan` uses it")
    if check and not check.get("beats_floor"):
        console.print(f"  [yellow]not used by --vocoder auto yet:[/] on validation audio it scores mel L1 "
                      f"{check['mel_l1']:.3f} and MR-STFT {check['mrstft']:.3f}, against {check['floor_mel_l1']:.3f} "
                      f"and {check['floor_mrstft']:.3f} for the Griffin-Lim floor; continue with "
                      f"`sda train-vocoder {model} --resume --max-minutes M` (the budget counts all runs)")
    else:
        console.print("  --vocoder auto prefers it from now on")
