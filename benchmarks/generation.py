"""Generation speed, stage by stage: seconds of 48 kHz stereo from trained models, cold and warm, next to RAVE.

For each model (a library name or a ``.sda`` path), in a fresh process each:

- **warm**: a :class:`~sda_engine.generate.session.ModelSession` kept open; every stage timed on its own (best of
  ``--repeats``): sampling (the prior, or the VAE's latent dynamics), decoder, dynamics matching, vocoder (the
  corpus vocoder split into search, grains, correction and refinement), stereo, resampling to 48 kHz and
  export; then the whole ``generate_files`` call. RTF = seconds of compute per second of audio (lower is
  faster); "x real time" is its inverse. Peak memory = the process's peak RSS.
- **cold**: ``sda generate MODEL --duration S --channels stereo`` in a new process (imports, model load,
  corpus index load and everything above), wall time and peak RSS.
- **FLOPs** per output second of the decoder and the vocoder (matmuls, convolutions and FFTs counted with
  ``torch.utils.flop_counter``; FFTs as 2.5 N log2 N per real transform; elementwise work not counted), next
  to the measured fp32 matmul peak of this machine: "floor ms" is the time those FLOPs take at that peak.
- **RAVE** (``--rave``): acids-rave's v2 configuration built with random weights (the compute of a trained
  one), decoding the same seconds from random latents, in its own scratch venv (created on first use with
  ``uv``; skipped with a message where it cannot be installed).

    uv run --no-sync python benchmarks/generation.py loops-tiny loops-small --seconds 60 --repeats 3 --rave

Not a test: numbers depend on the machine and its load (the script prints the load average).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger("benchmarks.generation")
OUT = Path(__file__).resolve().parent / "out" / "generation.md"
RAVE_VENV = Path(__file__).resolve().parent / "out" / "rave-venv"
RAVE_PACKAGES = ["acids-rave", "torch==2.4.*", "torchaudio==2.4.*", "setuptools<81"]
STAGES = ("sample", "decode", "dynamics", "vocoder", "stereo", "resample", "export")
VOCODER_PARTS = ("search", "grains", "correction", "refinement")


# -- measurement helpers ---------------------------------------------------------------------------------
def best_of(fn: Callable[[], Any], repeats: int, cpu: list[float] | None = None) -> tuple[float, Any]:
    """``(best wall seconds, last result)`` of ``repeats`` calls; ``cpu`` gets the process CPU seconds (all
    threads) of the fastest call, less sensitive than wall time to other processes' load."""
    best, result, best_cpu = math.inf, None, math.inf
    for _ in range(max(1, repeats)):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        elapsed = time.perf_counter() - start
        if elapsed < best:
            best, best_cpu = elapsed, time.process_time() - start_cpu
    if cpu is not None:
        cpu.append(best_cpu)
    return best, result


def matmul_peak_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """Measured fp32 GFLOP/s of an ``n x n`` matmul on ``threads`` threads (best of ``repeats``)."""
    import torch

    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    a @ b
    seconds, _ = best_of(lambda: a @ b, repeats)
    return 2 * n**3 / seconds / 1e9


def _fft_formula(kind: str) -> Callable[..., int]:
    """FLOP formula for the aten FFT ops (5 N log2 N complex, half that real), for ``FlopCounterMode``."""

    def count(x_shape: Any, dim: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        dims = list(dim)
        if kind == "c2r":  # the output holds the real signal
            n = math.prod(out_shape[d] for d in dims)
            batch = math.prod(out_shape) // max(1, n)
        else:
            n = math.prod(x_shape[d] for d in dims)
            batch = math.prod(x_shape) // max(1, n)
        per = 5 * n * math.log2(max(n, 2)) * (1.0 if kind == "c2c" else 0.5)
        return int(per * batch)

    return count


def _cdist_flops(x_shape: Any, y_shape: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return 3 * math.prod(out_shape) * x_shape[-1]  # subtract, square, add per pair and dimension


def _banded_aware(dense: Callable[..., int], banded: dict[int, int]) -> Callable[..., int]:
    """Wrap a matmul formula so the mel filterbank matrices (``banded``: data pointer -> stored entries,
    sparse in the library, dense while counting) count their stored entries, not their shape."""
    import torch

    def count(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
        for arg in args:
            if isinstance(arg, torch.Tensor) and arg.data_ptr() in banded:
                return 2 * banded[arg.data_ptr()] * int(out_val.shape[-1])
        return dense(*args, out_val=out_val, **kwargs)  # the registered formulas take tensors and shape them

    count._get_raw = True  # type: ignore[attr-defined]
    return count


@contextmanager
def flop_counter() -> Iterator[Any]:
    """A ``FlopCounterMode`` that also counts FFTs and ``cdist``. The corpus vocoder's sparse (CSR) mel
    filterbank products cannot run under a dispatch mode, so they run dense here and count their nonzeros."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode, addmm_flop, mm_flop

    import sda_models.vocoders.mel_correction as mc

    banded: dict[int, int] = {}
    sparse_grid = mc._grid

    def dense_grid(config: Any, device: Any) -> Any:
        window, fb, spread_sparse, spread = sparse_grid(config, device)
        fb_dense, spread_dense = fb.to_dense(), spread_sparse.to_dense()
        banded[fb_dense.data_ptr()], banded[spread_dense.data_ptr()] = int(fb._nnz()), int(spread_sparse._nnz())
        dense_grid.keep.append((fb_dense, spread_dense))  # type: ignore[attr-defined]
        return window, fb_dense, spread_dense, spread

    dense_grid.keep = []  # type: ignore[attr-defined]
    aten = torch.ops.aten
    custom = {aten._fft_r2c: _fft_formula("r2c"), aten._fft_c2r: _fft_formula("c2r"),
              aten._fft_c2c: _fft_formula("c2c"), aten._cdist_forward: _cdist_flops,
              aten.mm: _banded_aware(mm_flop, banded), aten.addmm: _banded_aware(addmm_flop, banded)}
    mc._grid = dense_grid
    try:
        with FlopCounterMode(display=False, custom_mapping=custom) as counter:
            yield counter
    finally:
        mc._grid = sparse_grid


@contextmanager
def timed_parts(vocoder: Any, totals: dict[str, float]) -> Iterator[None]:
    """Add the corpus vocoder's search, correction and refinement seconds to ``totals`` while inside."""
    import sda_models.vocoders.corpus as corpus

    if not isinstance(vocoder, corpus.CorpusVocoder):
        yield
        return
    saved = {"choose_frames": vocoder.choose_frames, "match_mel": corpus.match_mel,
             "refine_stft": corpus.refine_stft}

    def wrap(fn: Callable[..., Any], part: str) -> Callable[..., Any]:
        def inner(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[part] += time.perf_counter() - start
        return inner

    vocoder.choose_frames = wrap(saved["choose_frames"], "search")  # type: ignore[method-assign]
    corpus.match_mel = wrap(saved["match_mel"], "correction")
    corpus.refine_stft = wrap(saved["refine_stft"], "refinement")
    try:
        yield
    finally:
        del vocoder.choose_frames
        corpus.match_mel, corpus.refine_stft = saved["match_mel"], saved["refine_stft"]


# -- one model, warm -------------------------------------------------------------------------------------
def measure_warm(model: str, seconds: float, repeats: int, threads: int, device: str, vocoder: str,
                 workdir: str) -> dict[str, Any]:
    """Stage times of one model with a session kept open (run in a fresh process)."""
    import numpy as np
    import torch

    from sda_audio.export import export_audio
    from sda_audio.resample import resample
    from sda_audio.spatial import mono_to_stereo
    from sda_engine.generate import rendering
    from sda_engine.generate.pipeline import generate_files
    from sda_engine.generate.renderer import Renderer
    from sda_engine.generate.request import GenerationRequest, density_factor
    from sda_engine.generate.session import ModelSession
    from sda_models.loudness_match import match_dynamics

    torch.set_num_threads(threads)
    start = time.perf_counter()
    session = ModelSession.open(model, device=device)
    open_s = time.perf_counter() - start
    request = GenerationRequest().replace(duration=seconds, channels="stereo", vocoder=vocoder)
    start = time.perf_counter()
    voc, voc_name, _ = session.vocoder(request.vocoder)
    vocoder_load_s = time.perf_counter() - start
    bundle = session.bundle
    ae = bundle.autoencoder
    times: dict[str, float] = {}
    renderer = Renderer(session, request)
    times["sample"], sketch = best_of(renderer.sample, repeats)
    latent = rendering.sketch_latent(bundle, sketch, session.device)
    frames = rendering.n_mel_frames(seconds)

    def decode() -> torch.Tensor:
        norm = rendering.decode_latent(ae, latent)[..., :frames]
        return bundle.stats.denormalize(norm)[0]

    times["decode"], raw_mel = best_of(decode, repeats)
    quantiles = (bundle.metadata.get("dynamics") or {}).get("frame_loudness_quantiles")

    def dynamics() -> torch.Tensor:
        mel = match_dynamics(raw_mel, quantiles, request.dynamics) if quantiles else raw_mel
        return rendering.density_gate(mel.float(), density_factor(request.control.value("density")))

    times["dynamics"], mel = best_of(dynamics, repeats)
    parts_best: dict[str, float] = {}
    best_vocoder = math.inf
    for _ in range(max(1, repeats)):
        parts: dict[str, float] = defaultdict(float)
        with timed_parts(voc, parts):
            start = time.perf_counter()
            audio, _ = rendering.vocode_chunks(voc, mel)
            elapsed = time.perf_counter() - start
        if elapsed < best_vocoder:
            best_vocoder, parts_best = elapsed, dict(parts)
    times["vocoder"] = best_vocoder
    if parts_best:
        parts_best["grains"] = best_vocoder - sum(parts_best.values())
    mono = rendering.finish_mono(audio, int(round(seconds * rendering.SAMPLE_RATE)))
    times["stereo"], stereo = best_of(lambda: mono_to_stereo(mono, rendering.SAMPLE_RATE, seed=0), repeats)
    times["resample"], at48 = best_of(lambda: resample(stereo, rendering.SAMPLE_RATE, 48000), repeats)
    settings = request.export.settings("stereo")
    target = Path(workdir) / "stage.wav"
    times["export"], _ = best_of(lambda: export_audio(np.asarray(at48), 48000, target, settings, {"bench": 1}),
                                 repeats)
    total_cpu: list[float] = []
    total, _ = best_of(lambda: generate_files(session, request, Path(workdir) / "warm.wav", overwrite=True), repeats,
                       total_cpu)
    with flop_counter() as counter:
        decode()
    decoder_flops = counter.get_total_flops() / seconds
    one = mel[:, : min(mel.shape[1], rendering.VOCODE_CHUNK_FRAMES)]
    with flop_counter() as counter:
        voc.synthesize(one)
    vocoder_flops = counter.get_total_flops() / (one.shape[1] * rendering.HOP / rendering.SAMPLE_RATE)
    config = ae.config
    return {
        "model": model, "kind": session.kind, "params": sum(p.numel() for p in ae.parameters()) + (
            sum(p.numel() for p in bundle.prior.parameters()) if bundle.prior is not None else 0),
        "latent_frames": int(latent.shape[-1]), "downsample": int(config.downsample),
        "vocoder": voc_name, "open_s": open_s, "vocoder_load_s": vocoder_load_s, "stages": times,
        "vocoder_parts": parts_best, "warm_total_s": total, "warm_cpu_s": total_cpu[0],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "decoder_flops_per_s": decoder_flops, "vocoder_flops_per_s": vocoder_flops,
    }


def _warm_child(queue: Any, *args: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
    try:
        queue.put(measure_warm(*args))
    except Exception as exc:  # reported by the parent; the benchmark goes on with the next model
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def run_warm(*args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_warm_child, args=(queue, *args))
    proc.start()
    result = queue.get()
    proc.join()
    return result


# -- one model, cold -------------------------------------------------------------------------------------
def run_cold(model: str, seconds: float, repeats: int, threads: int, device: str, vocoder: str,
             workdir: str) -> dict[str, Any]:
    """Wall time and peak RSS of ``sda generate`` in a new process (best of ``repeats``)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "sda_cli.main", "generate", model, "--duration", f"{seconds:g}",
               "--channels", "stereo", "--vocoder", vocoder, "--device", device,
               "-o", str(Path(workdir) / "cold.wav"), "--overwrite"]
    best, peak = math.inf, 0.0
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if os.waitstatus_to_exitcode(status) != 0:
            return {"error": f"sda generate failed: {err.strip()[-400:]}"}
        best, peak = min(best, elapsed), max(peak, usage.ru_maxrss / 1024)
    return {"cold_s": best, "cold_peak_rss_mb": peak}


# -- RAVE ------------------------------------------------------------------------------------------------
RAVE_CHILD = textwrap.dedent('''
    import json, math, os, resource, sys, time, warnings
    warnings.simplefilter("ignore")
    import gin, torch, rave
    seconds, repeats, threads, device = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    torch.set_num_threads(threads)
    gin.add_config_file_search_path(os.path.join(os.path.dirname(rave.__file__), "configs"))
    gin.parse_config_files_and_bindings(["v2.gin"], [])
    torch.manual_seed(0)
    model = rave.RAVE().eval().to(device)
    for module in model.modules():  # as RAVE's own export does
        try:
            torch.nn.utils.remove_weight_norm(module)
        except ValueError:
            pass
    ratio = 2048  # v2: 4 * 4 * 4 * 2 strides x 16 PQMF bands
    frames = math.ceil(seconds * model.sr / ratio)
    z = torch.randn(1, model.latent_size, frames, device=device)
    decoder_params = sum(p.numel() for p in model.decoder.parameters())
    with torch.no_grad():
        model.decode(z[..., :16])
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            y = model.decode(z)
            if device == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
        from torch.utils.flop_counter import FlopCounterMode
        with FlopCounterMode(display=False) as counter:
            model.decode(z[..., :64])
    print(json.dumps({"seconds": best, "samples": int(y.shape[-1]), "sample_rate": model.sr,
                      "channels": int(y.shape[-2]), "params": decoder_params, "torch": torch.__version__,
                      "flops_per_s": counter.get_total_flops() / (64 * ratio / model.sr),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
''')


def ensure_rave_venv(venv: Path) -> tuple[Path | None, str]:
    """``(python of a venv with acids-rave, "")`` or ``(None, why not)``; creates the venv with ``uv``."""
    python = venv / "bin" / "python"
    if python.is_file():
        check = subprocess.run([str(python), "-c", "import rave, gin"], capture_output=True)
        if check.returncode == 0:
            return python, ""
    uv = shutil.which("uv")
    if uv is None:
        return None, "uv is not on PATH"
    log.info("installing acids-rave into %s (once)", venv)
    steps = [[uv, "venv", "--quiet", "--python", f"{sys.version_info.major}.{sys.version_info.minor}", str(venv)],
             [uv, "pip", "install", "--quiet", "--python", str(python), *RAVE_PACKAGES]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            return None, f"`{' '.join(step[:3])} ...` failed: {result.stderr.strip()[-300:]}"
    return python, ""


def run_rave(venv: Path, seconds: float, repeats: int, threads: int, device: str) -> dict[str, Any]:
    python, why = ensure_rave_venv(venv)
    if python is None:
        return {"error": f"RAVE skipped: it could not be installed ({why})"}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(RAVE_CHILD)
    try:
        result = subprocess.run([str(python), handle.name, str(seconds), str(repeats), str(threads), device],
                                capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    finally:
        os.unlink(handle.name)
    if result.returncode != 0:
        return {"error": f"RAVE skipped: its decode failed ({result.stderr.strip()[-300:]})"}
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- report ----------------------------------------------------------------------------------------------
def _x(seconds: float, audio_seconds: float) -> str:
    return f"{audio_seconds / seconds:.1f}x" if seconds > 0 else "-"


def render_report(rows: list[dict[str, Any]], rave: dict[str, Any] | None, args: argparse.Namespace,
                  peak: float, load: tuple[float, float, float]) -> str:
    import torch

    sec = args.seconds
    lines = [
        f"# Generation speed: {sec:g} s of 48 kHz stereo",
        "",
        f"`benchmarks/generation.py {' '.join(args.models)} --seconds {sec:g} --repeats {args.repeats}"
        f"{' --rave' if args.rave else ''}` on {args.device}, {args.threads} torch thread(s), torch "
        f"{torch.__version__}; load average before the run {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; "
        f"measured fp32 matmul peak {peak:.0f} GFLOP/s. Stage times are the best of {args.repeats}; "
        "x = seconds of audio per second of compute (higher is faster); warm CPU s = process CPU time (both "
        "threads, spin-waits included) of the fastest warm run: less sensitive than wall time to other jobs' load.",
        "",
        "| model | kind | params | vocoder | " + " | ".join(f"{s} s" for s in STAGES)
        + " | warm total s | warm x | warm CPU s | cold CLI s | cold x | peak RSS MB warm / cold |",
        "|---|---|---|---|" + "---|" * len(STAGES) + "---|---|---|---|---|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['model']} | error: {row['error']} |")
            continue
        stages = " | ".join(f"{row['stages'][s]:.2f}" for s in STAGES)
        cold = row.get("cold_s")
        cold_s = f"{cold:.2f}" if cold else "-"
        cold_x = _x(cold, sec) if cold else "-"
        cold_mb = f"{row['cold_peak_rss_mb']:.0f}" if cold else "-"
        lines.append(f"| {row['model']} | {row['kind']} | {row['params'] / 1e6:.2f} M | {row['vocoder']} | {stages} | "
                     f"{row['warm_total_s']:.2f} | {_x(row['warm_total_s'], sec)} | {row['warm_cpu_s']:.2f} | "
                     f"{cold_s} | {cold_x} | "
                     f"{row['peak_rss_mb']:.0f} / {cold_mb} |")
    if rave is not None and "error" not in rave:
        lines.append(f"| RAVE v2 (random weights, decode only) | rave | {rave['params'] / 1e6:.2f} M | - | "
                     + " | ".join(["-"] * len(STAGES)) + f" | {rave['seconds']:.2f} | {_x(rave['seconds'], sec)} | - | - | - | "
                     f"{rave['peak_rss_mb']:.0f} / - |")
    lines += ["", "Corpus vocoder, split (s): " + "; ".join(
        f"{row['model']}: " + ", ".join(f"{p} {row['vocoder_parts'].get(p, 0.0):.2f}" for p in VOCODER_PARTS)
        for row in rows if "error" not in row and row["vocoder_parts"]) + ".", ""]
    lines += ["| model | decoder GFLOP per output s | floor ms at peak | vocoder GFLOP per output s | floor ms at peak |"
              " measured vocoder ms per output s | ratio measured / floor |",
              "|---|---|---|---|---|---|---|"]
    for row in rows:
        if "error" in row:
            continue
        dec, voc = row["decoder_flops_per_s"] / 1e9, row["vocoder_flops_per_s"] / 1e9
        measured = row["stages"]["vocoder"] / sec * 1000
        floor = voc / peak * 1000
        lines.append(f"| {row['model']} | {dec:.3f} | {dec / peak * 1000:.2f} | {voc:.2f} | {floor:.1f} | "
                     f"{measured:.1f} | {measured / floor:.1f} |" if floor > 0 else f"| {row['model']} | {dec:.3f} |")
    if rave is not None:
        if "error" in rave:
            lines += ["", rave["error"]]
        else:
            rave_g = rave["flops_per_s"] / 1e9
            lines.append(f"| RAVE v2 | {rave_g:.1f} | {rave_g / peak * 1000:.0f} | - | - | "
                         f"{rave['seconds'] / sec * 1000:.0f} (decoder) | "
                         f"{rave['seconds'] / sec * 1000 / (rave_g / peak * 1000):.1f} |")
            for row in rows:
                if "error" not in row:
                    lines.append(f"\n{row['model']}: warm session {rave['seconds'] / row['warm_total_s']:.2f}x the "
                                 f"speed of RAVE's decoder alone ({rave['channels']} channel, "
                                 f"{rave['sample_rate']} Hz, torch {rave['torch']}).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="library names or .sda paths (SDA_HOME selects the library)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of audio to generate")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per stage (the best is kept)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch intra-op threads")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    parser.add_argument("--vocoder", default="auto", help="the vocoder choice (auto = the default)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold `sda generate` runs")
    parser.add_argument("--rave", action="store_true", help="also time RAVE v2 (installs acids-rave into a venv)")
    parser.add_argument("--rave-venv", type=Path, default=RAVE_VENV, help="where the RAVE venv lives")
    parser.add_argument("--out", type=Path, default=OUT, help="markdown file to write")
    args = parser.parse_args(argv)
    if not args.models:  # `nox -s bench` runs every script bare: there is no trained model to time by default
        log.warning("generation benchmark skipped: name the trained models to time (library names or .sda paths)")
        return ""
    load = os.getloadavg()
    peak = matmul_peak_gflops(args.threads)
    log.info("fp32 matmul peak: %.0f GFLOP/s on %d threads; load %s", peak, args.threads, load)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for model in args.models:
            row = run_warm(model, args.seconds, args.repeats, args.threads, args.device, args.vocoder, workdir)
            row.setdefault("model", model)
            if "error" not in row and not args.no_cold:
                cold = run_cold(model, args.seconds, args.repeats, args.threads, args.device, args.vocoder, workdir)
                row.update({"cold_error": cold.pop("error")} if "error" in cold else cold)
            log.info("%s: %s", model, json.dumps(row, default=str))
            rows.append(row)
    rave = run_rave(args.rave_venv, args.seconds, args.repeats, args.threads, args.device) if args.rave else None
    if rave is not None:
        log.info("RAVE: %s", json.dumps(rave))
    text = render_report(rows, rave, args, peak, load)
    from sda_audio.atomic import atomic_write_text

    atomic_write_text(args.out, text)
    sys.stdout.write(text)
    return text


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
