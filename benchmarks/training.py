"""Training throughput of the mel autoencoders against this machine's matmul peak (issue 25, "Use the machine").

For each model size (``--sizes``; tiny and small by default) and kind (``--kinds``), the autoencoder's step
as the engine runs it (:func:`sda_models.training.train_step` on a batch of normalised log-mels of the size's
``batch_size x 128 x segment_frames``, the model from :func:`sda_models.autoencoder.build_autoencoder`, the
optimizer from :func:`sda_models.training.make_optimizer`, the learning rate from ``lr_at``) is timed in a
fresh process per configuration, for several variants:

- ``fp32``: the engine's CPU step (baseline);
- ``bf16``: the same step under ``torch.autocast("cpu", torch.bfloat16)`` (``train_step(amp_dtype=...)``);
- ``compile`` / ``compile-max-autotune``: the model wrapped in ``torch.compile`` (mode default, or
  ``max-autotune-no-cudagraphs``); the compile time is the extra time of the warm-up steps;
- ``mkldnn-off``: ``torch.backends.mkldnn`` disabled (1-D convolutions through PyTorch's own kernels);
  channels-last does not apply (it is a 4-D/5-D memory format; these models are 1-D convolutions);
- ``batch x2`` / ``batch x4`` (small): a larger batch of the same windows.

The batches are windows of real log-mels (the files of ``--data``, by default ``../shared/datasets/drums``,
through :class:`sda_models.mel.LogMel`, normalised by :meth:`sda_models.normalization.MelStats.from_mels`), so
that the RVQ's k-means initialisation, EMA updates and dead-code resets run as in training. Reported: steps/s,
seconds of audio seen per second (batch x segment seconds per step; hop 512 at 44.1 kHz), the FLOPs of one
forward+backward (``torch.utils.flop_counter.FlopCounterMode``: matmuls and convolutions) divided by the step
time, and that as a share of the fp32 matmul peak measured here on the same thread count. Quality: every
run starts from the same seed and batches, and after ``--quality-steps`` steps (200 for tiny, 60 for small)
the loss of a fixed batch of held-out windows (``eval_step``, fp32) is recorded; a variant counts as
"unchanged quality" when it is within ``--tolerance`` (3 %) of fp32. One step of small (fp32) is profiled
with ``torch.profiler`` (top operators by self CPU time).

    uv run --no-sync python benchmarks/training.py --doc      # about 15 minutes; writes docs/benchmarks.md
    uv run --no-sync python benchmarks/training.py --quick    # a few seconds per configuration

The markdown goes to ``benchmarks/out/training.md`` (and, with ``--doc``, replaces the section
"Training throughput" of docs/benchmarks.md). Not a test: the numbers depend on the machine and its load;
``os.getloadavg()`` is recorded with every measurement.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import logging
import math
import multiprocessing as mp
import os
import platform
import queue as queue_mod
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

log = logging.getLogger("benchmarks.training")
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "training.md"
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Training throughput (`benchmarks/training.py`)"
DATA = ROOT.parent / "shared" / "datasets" / "drums"
QUALITY_STEPS = {"tiny": 200, "small": 60, "full": 10}
EVAL_WINDOWS = 32


@dataclass(frozen=True)
class Config:
    """One timed configuration."""

    size: str
    kind: str
    variant: str = "fp32"
    threads: int = 2
    batch_mult: int = 1
    seconds: float = 20.0
    quality_steps: int = 60
    compile_timeout: float = 120.0

    @property
    def label(self) -> str:
        return self.variant if self.batch_mult == 1 else f"{self.variant}, batch x{self.batch_mult}"


@dataclass
class Result:
    config: Config
    params: int = 0
    batch: int = 0
    frames: int = 0
    steps: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    warmup_s: float = 0.0
    median_step_s: float = math.nan
    compile_s: float | None = None
    gflop_per_step: float = 0.0
    quality: dict[str, float] = field(default_factory=dict)
    train_loss: float = math.nan
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    error: str | None = None

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.wall_s if self.wall_s > 0 else math.nan

    @property
    def median_steps_per_s(self) -> float:
        return 1.0 / self.median_step_s

    @property
    def audio_s_per_step(self) -> float:
        from sda_models.mel import MelConfig

        mel = MelConfig()
        return self.batch * self.frames * mel.hop_length / mel.sampling_rate

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s at the median step time (the speed between other jobs' bursts)."""
        return self.gflop_per_step * self.median_steps_per_s


# -- helpers ---------------------------------------------------------------------------------------------
def matmul_peak_gflops(threads: int, n: int = 2048, seconds: float = 3.0) -> float:
    """Measured fp32 GFLOP/s of ``n x n`` matmuls on ``threads`` threads: the best of repeated runs over
    ``seconds`` (a loaded machine still gives one quiet run now and then)."""
    import torch

    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    out = torch.empty(n, n)
    torch.matmul(a, b, out=out)
    best, end = math.inf, time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        torch.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def load_mels(data: Path, cache: Path) -> dict[str, Any]:
    """Normalised log-mels of every file of ``data`` concatenated in time ``(128, T)``, saved to ``cache``."""
    import numpy as np
    import torch

    from sda_engine.train.data import list_dataset_files, load_mono
    from sda_models.mel import LogMel
    from sda_models.normalization import MelStats

    files = list_dataset_files(data) if data.is_dir() else []
    mel_fn = LogMel()
    mels = []
    with torch.no_grad():
        for path in files:
            wave = load_mono(path)
            if len(wave) < 4096:
                continue
            mels.append(mel_fn(torch.from_numpy(np.ascontiguousarray(wave))[None])[0])
        if not mels:  # offline fallback without the datasets: decaying noise bursts (still real log-mels)
            log.warning("no audio under %s: using synthetic noise bursts", data)
            gen = torch.Generator().manual_seed(0)
            for i in range(20):
                n = 44100 // 2
                env = torch.exp(-torch.arange(n) / (2000.0 + 400 * i))
                mels.append(mel_fn((0.3 * torch.randn(n, generator=gen) * env)[None])[0])
    stats = MelStats.from_mels(mels)
    norm = torch.cat([stats.normalize(m) for m in mels], dim=-1).contiguous()
    torch.save({"mel": norm, "files": len(files)}, cache)
    return {"files": len(mels), "frames": int(norm.shape[-1])}


def windows(mel: Any, count: int, frames: int, seed: int) -> Any:
    """``count`` random windows ``(count, 128, frames)`` of ``mel (128, T)`` (the mel tiled if too short)."""
    import torch

    if mel.shape[-1] < frames + 1:
        mel = mel.repeat(1, frames // mel.shape[-1] + 2)
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, mel.shape[-1] - frames, (count,), generator=gen)
    return torch.stack([mel[:, s:s + frames] for s in starts.tolist()])


def count_gflop(model: Any, optimizer_factory: Any, batch: Any, cfg: Any) -> float:
    """GFLOP of one forward+backward (matmuls and convolutions) of a copy of ``model``, after one step."""
    from torch.utils.flop_counter import FlopCounterMode

    from sda_models.training import train_step

    model = copy.deepcopy(model)
    optimizer = optimizer_factory(model)
    train_step(model, optimizer, batch, cfg, 1)  # k-means initialisation of the codebooks
    with FlopCounterMode(display=False) as counter:
        train_step(model, optimizer, batch, cfg, 2)
    return counter.get_total_flops() / 1e9


# -- one configuration (in its own process) --------------------------------------------------------------
def measure(config: Config, mel_path: str) -> Result:
    import torch

    from sda_models.autoencoder import build_autoencoder, count_parameters
    from sda_models.configs import preset_config
    from sda_models.training import eval_step, lr_at, make_optimizer, train_step

    torch.set_num_threads(config.threads)
    res = Result(config=config, load_before=os.getloadavg())
    preset = preset_config(config.size, config.kind)
    ae_cfg, tr = preset.autoencoder, preset.training
    res.batch, res.frames = tr.batch_size * config.batch_mult, tr.segment_frames
    mel = torch.load(mel_path)["mel"]
    pool = [windows(mel, res.batch, res.frames, seed=1000 + i) for i in range(16)]
    held_out = windows(mel, EVAL_WINDOWS, res.frames, seed=7)

    torch.manual_seed(0)
    model = build_autoencoder(ae_cfg)
    res.params = count_parameters(model)
    res.gflop_per_step = count_gflop(model, lambda m: make_optimizer(m, tr), pool[0], ae_cfg)
    optimizer = make_optimizer(model, tr)
    amp = torch.bfloat16 if "bf16" in config.variant else None
    runner: Any = model
    mode = "max-autotune-no-cudagraphs" if "max-autotune" in config.variant else None
    if config.variant.startswith("compile-enc/dec"):  # the convolution stacks only; the RVQ stays eager
        model.encoder.compile(mode=mode)
        model.decoder.compile(mode=mode)
    elif config.variant.startswith("compile"):
        runner = torch.compile(model, mode=mode)
    gen = torch.Generator().manual_seed(0)
    mkldnn = torch.backends.mkldnn.flags(enabled=config.variant != "mkldnn-off")

    def step(i: int) -> dict[str, float]:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(i - 1, tr)
        return train_step(runner, optimizer, pool[(i - 1) % len(pool)], ae_cfg, i,
                          grad_clip=tr.grad_clip or None, generator=gen, amp_dtype=amp)

    losses: list[float] = []

    def check_quality(i: int) -> None:  # the held-out loss after quality_steps steps (outside the clock)
        if i == config.quality_steps:
            res.quality = {k: float(v) for k, v in eval_step(model, held_out, ae_cfg, i).items()}
            res.train_loss = sum(losses[-10:]) / len(losses[-10:])

    with mkldnn:
        # warm-up: the first step initialises the codebooks (and compiles); at least 5 steps and 2 s
        i, start, times = 0, time.perf_counter(), []
        while True:
            i += 1
            t0 = time.perf_counter()
            losses.append(step(i)["total"])
            times.append(time.perf_counter() - t0)
            check_quality(i)
            if i >= 5 and time.perf_counter() - start > min(2.0, config.seconds):
                break
        res.warmup_s = time.perf_counter() - start
        # timed steps; the held-out evaluation at quality_steps is excluded from the clock
        wall = cpu = 0.0
        step_times = []
        while wall < config.seconds or i < config.quality_steps:
            i += 1
            t0, c0 = time.perf_counter(), time.process_time()
            losses.append(step(i)["total"])
            step_times.append(time.perf_counter() - t0)
            wall += step_times[-1]
            cpu += time.process_time() - c0
            res.steps += 1
            check_quality(i)
        res.wall_s, res.cpu_s = wall, cpu
        res.median_step_s = statistics.median(step_times)
        if config.variant.startswith("compile"):  # the warm-up's time beyond steps at the median speed
            res.compile_s = res.warmup_s - len(times) * res.median_step_s
    res.load_after = os.getloadavg()
    return res


def profile(size: str, kind: str, threads: int, variant: str, mel_path: str, steps: int = 5,
            top: int = 12) -> list[dict[str, Any]]:
    """Top operators by self CPU time over ``steps`` warm training steps."""
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from sda_models.autoencoder import build_autoencoder
    from sda_models.configs import preset_config
    from sda_models.training import make_optimizer, train_step

    torch.set_num_threads(threads)
    preset = preset_config(size, kind)
    mel = torch.load(mel_path)["mel"]
    pool = [windows(mel, preset.training.batch_size, preset.training.segment_frames, seed=1000 + i)
            for i in range(4)]
    torch.manual_seed(0)
    model = build_autoencoder(preset.autoencoder)
    optimizer = make_optimizer(model, preset.training)
    amp = torch.bfloat16 if variant == "bf16" else None
    for i in range(1, 6):
        train_step(model, optimizer, pool[i % 4], preset.autoencoder, i, amp_dtype=amp)
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(6, 6 + steps):
            train_step(model, optimizer, pool[i % 4], preset.autoencoder, i, amp_dtype=amp)
    events = list(prof.key_averages())
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [{"op": e.key, "self_ms_per_step": e.self_cpu_time_total / 1000 / steps,
             "share": e.self_cpu_time_total / total, "calls_per_step": e.count / steps} for e in events[:top]]


def _child(queue: Any, fn: str, *args: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
    try:
        out = measure(*args) if fn == "measure" else profile(*args)
    except Exception as exc:  # noqa: BLE001 - reported in the table, the other configurations go on
        out = Result(config=args[0], error=f"{type(exc).__name__}: {exc}"[:300]) if fn == "measure" else \
            [{"error": f"{type(exc).__name__}: {exc}"[:300]}]
    queue.put(out)


def in_process(fn: str, *args: Any, timeout: float) -> Any:
    """Run ``measure`` or ``profile`` in a fresh (spawned) process; ``None`` after ``timeout`` seconds."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, fn, *args))
    proc.start()
    try:
        out = queue.get(timeout=timeout)
    except queue_mod.Empty:
        out = None
        proc.kill()
    proc.join()
    return out


# -- the plan and the report -----------------------------------------------------------------------------
def plan(args: argparse.Namespace) -> list[Config]:
    configs = []
    for size in args.sizes.split(","):
        q = args.quality_steps if args.quality_steps is not None else QUALITY_STEPS.get(size, 60)
        base = Config(size=size, kind="rvq", seconds=args.seconds, quality_steps=q, compile_timeout=args.compile_timeout)
        for kind in args.kinds.split(","):
            if kind != "rvq":
                configs.append(replace(base, kind=kind))
        if "rvq" not in args.kinds.split(","):
            continue
        for variant in ("fp32", "bf16", "mkldnn-off"):
            configs.append(replace(base, variant=variant))
        if size == "small":
            configs += [replace(base, batch_mult=m) for m in (2, 4)]
        if size in args.compile_sizes.split(",") and not args.no_compile:
            # the whole model recompiles at every step (the RVQ's Python-side state): timed, quality not waited for
            configs += [replace(base, variant=v, quality_steps=0) for v in ("compile", "compile-enc/dec")]
        if 1 in args.thread_counts and args.threads != 1:
            for variant in ("fp32", "bf16"):
                configs.append(replace(base, variant=variant, threads=1))
    if args.only:
        wanted = [w.strip() for w in args.only.split(";")]
        configs = [c for c in configs if f"{c.size} {c.label} {c.threads}t" in wanted]
    return configs


def _fmt_load(load: tuple[float, float, float]) -> str:
    return f"{load[0]:.1f}"


def render(results: list[Result], peaks: dict[int, float], profiles: dict[str, list[dict[str, Any]]],
           meta: dict[str, Any], tolerance: float) -> str:
    lines = [
        HEADING, "",
        f"`{meta['command']}` on {meta['date']}: {meta['cpu']}, {meta['cores']} cores, torch {meta['torch']}; "
        f"load average at the start {meta['load'][0]:.1f} / {meta['load'][1]:.1f} / {meta['load'][2]:.1f} "
        f"(the machine is shared: each row gives the 1-minute load before and after it). Measured fp32 matmul "
        f"peak (best 2048 x 2048 `torch.matmul`): "
        + ", ".join(f"{peaks[t]:.0f} GFLOP/s on {t} thread{'s' if t > 1 else ''}" for t in sorted(peaks)) + ".",
        "",
        f"Every row is the autoencoder's `train_step` as the engine runs it, in a fresh process, timed over at "
        f"least {meta['seconds']:.0f} s after a warm-up; batches are windows of normalised log-mels of "
        f"{meta['mel_files']} real files ({meta['mel_frames']} frames). GFLOP/step = matmuls and convolutions of "
        f"forward + backward (`FlopCounterMode`); % of peak = achieved GFLOP/s over the fp32 matmul peak on the "
        f"same thread count (bf16 rows too). Steps/s (all) = timed steps over their wall time; steps/s "
        f"(median step), and everything after it, from the median step time: on this shared machine another job's "
        f"bursts make some 2-thread steps 10-50x slower (one thread descheduled, the other spinning at the "
        f"barrier: CPU s / wall s near 1), and the median is the speed between them. Audio s/s = seconds of audio (batch x segment, hop 512 at 44.1 kHz) "
        f"seen per second. Quality: held-out loss (`eval_step` total, fp32, {EVAL_WINDOWS} fixed windows) after "
        f"N steps from the same seed and batches; \"same\" = within {tolerance:.0%} of fp32 on the same thread "
        f"count.",
        "",
        "| size | kind | variant | threads | batch x frames | params | steps/s (all) | steps/s (median step) "
        "| audio s/s | GFLOP/step | GFLOP/s | % of peak | CPU s / wall s | compile s "
        "| held-out loss after N (train) | quality | load before / after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    baseline = {(r.config.size, r.config.kind, r.config.threads): r for r in results
                if r.config.variant == "fp32" and r.config.batch_mult == 1 and not r.error}
    verdict: dict[str, str] = {}
    for r in results:
        c = r.config
        if r.error:
            lines.append(f"| {c.size} | {c.kind} | {c.label} | {c.threads} | - | - | - | - | - | - | - | - | - | - "
                         f"| - | failed: {r.error.replace('|', '/')} | - |")
            continue
        base = baseline.get((c.size, c.kind, c.threads))
        q = r.quality.get("total", math.nan)
        same = "not measured"
        if base is not None and r.quality:
            ref = base.quality.get("total", math.nan)
            same = "same" if abs(q - ref) <= tolerance * abs(ref) else \
                f"{'better' if q < ref else 'worse'} ({(q - ref) / ref:+.1%})"
            if r is base:
                same = "baseline"
        peak = peaks.get(c.threads, math.nan)
        lines.append(
            f"| {c.size} | {c.kind} | {c.label} | {c.threads} | {r.batch}x{r.frames} | {r.params / 1e6:.2f} M | "
            f"{r.steps_per_s:.2f} | {r.median_steps_per_s:.2f} | {r.median_steps_per_s * r.audio_s_per_step:.0f} | "
            f"{r.gflop_per_step:.3f} | {r.gflops:.1f} | {100 * r.gflops / peak:.1f} % | {r.cpu_s / r.wall_s:.2f} | "
            f"{'-' if r.compile_s is None else f'{r.compile_s:.0f}'} | "
            f"{f'{q:.4f} after {c.quality_steps} ({r.train_loss:.4f})' if r.quality else '-'} | {same} | {_fmt_load(r.load_before)} / {_fmt_load(r.load_after)} |")
        key = f"{c.size} {c.kind}, {c.threads} thread{'s' if c.threads > 1 else ''}"
        if same in ("same", "baseline"):
            best = verdict.get(key)
            if best is None or r.gflops > float(best.split("|")[0]):
                verdict[key] = f"{r.gflops}|{c.label}|{100 * r.gflops / peak:.1f}|{r.median_steps_per_s * r.audio_s_per_step:.0f}"
    lines += ["", "Fastest with unchanged quality (by achieved GFLOP/s, so larger batches count by the work done):", ""]
    for key, value in verdict.items():
        gflops, label, share, audio = value.split("|")
        threads = int(key.split(", ")[1].split()[0])
        per_core = f", {100 * float(gflops) / (threads * peaks[1]):.1f} % of {threads} x the 1-thread peak" \
            if threads > 1 and 1 in peaks else ""
        lines.append(f"- {key}: **{label}**, {float(gflops):.1f} GFLOP/s = {share} % of the measured peak"
                     f"{per_core}, {audio} s of audio per second.")
    small = [v for k, v in verdict.items() if k.startswith("small rvq, 2")]
    if small:
        share = float(small[0].split("|")[2])
        lines += ["", f"Issue 25's target for `small` on the CPU (>= 25 % of the matmul peak): "
                      f"**{'met' if share >= 25 else 'not met'}** - the best variant reaches {share:.1f} %."]
    for name, top in profiles.items():
        lines += ["", f"Profile of {name} (`torch.profiler`, 5 warm steps; top operators by self CPU time):", "",
                  "| operator | self ms per step | share | calls per step |", "|---|---|---|---|"]
        for row in top:
            if "error" in row:
                lines.append(f"| failed: {row['error']} | - | - | - |")
            else:
                lines.append(f"| `{row['op']}` | {row['self_ms_per_step']:.1f} | {row['share']:.1%} | "
                             f"{row['calls_per_step']:.0f} |")
    return "\n".join(lines) + "\n"


def write_doc(section: str, doc: Path = DOC) -> None:
    """Replace (or add, after the models' speed section) the "Training throughput" section of ``doc``."""
    from sda_audio.atomic import atomic_write_text

    text = doc.read_text() if doc.is_file() else "# Benchmarks\n"
    if HEADING in text:
        head, rest = text.split(HEADING, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1:] if nxt >= 0 else ""
    else:
        anchor = text.find("\n## ", text.find("## Models: training speed") + 1) if "## Models: training speed" in text \
            else -1
        head, tail = (text[:anchor + 1], text[anchor + 1:]) if anchor >= 0 else (text.rstrip("\n") + "\n\n", "")
    atomic_write_text(doc, f"{head}{section}\n{tail}" if tail else f"{head}{section}")


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="tiny,small", help="comma-separated sizes (tiny,small,full)")
    parser.add_argument("--kinds", default="rvq,vae", help="rvq gets every variant; vae only the fp32 baseline")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of the main rows")
    parser.add_argument("--no-one-thread", dest="thread_counts", action="store_const", const=(2,), default=(1, 2),
                        help="skip the 1-thread rows (fp32, bf16, compile)")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per configuration")
    parser.add_argument("--quality-steps", type=int, default=None, help="steps before the held-out loss "
                        "(default 200 for tiny, 60 for small)")
    parser.add_argument("--tolerance", type=float, default=0.03, help="relative loss difference called the same")
    parser.add_argument("--compile-timeout", type=float, default=120.0, help="give up on a compile after this")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    parser.add_argument("--compile-sizes", default="small", help="sizes that get the torch.compile variants")
    parser.add_argument("--only", default="", help="run only these rows, ';'-separated as 'SIZE LABEL THREADSt', "
                        "e.g. 'small fp32, batch x2 2t;small fp32 1t'")
    parser.add_argument("--data", type=Path, default=DATA, help="audio folder for the log-mels")
    parser.add_argument("--quick", action="store_true", help="a few seconds per configuration (nox -s bench)")
    parser.add_argument("--out", type=Path, default=OUT, help="markdown file to write")
    parser.add_argument("--doc", action="store_true", help="also replace the section in docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = min(args.seconds, 2.0)
        args.quality_steps = args.quality_steps or 10
        args.kinds = "rvq"
        args.thread_counts = (2,)
        args.no_compile = True  # a compile alone takes minutes here
    import torch

    load = os.getloadavg()
    threads = sorted({args.threads, *args.thread_counts}) if 1 in args.thread_counts else [args.threads]
    peaks = {t: matmul_peak_gflops(t, seconds=1.0 if args.quick else 5.0) for t in threads}
    log.info("fp32 matmul peak: %s GFLOP/s; load %s", {t: round(p) for t, p in peaks.items()}, load)
    results: list[Result] = []
    profiles: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        mel_path = str(Path(tmp) / "mels.pt")
        info = load_mels(args.data, Path(mel_path))
        for config in plan(args):
            limit = config.seconds * 4 + config.compile_timeout * 3 + 300
            res = in_process("measure", config, mel_path, timeout=limit) or \
                Result(config=config, error=f"no result within {limit:.0f} s")
            log.info("%s %s %s %d thr x%d: %s", config.size, config.kind, config.variant, config.threads,
                     config.batch_mult, json.dumps({**{k: v for k, v in asdict(res).items() if k != "config"},
                                                    "steps_per_s": res.steps_per_s, "gflops": res.gflops},
                                                   default=str))
            results.append(res)
        if "small" in args.sizes.split(",") and "rvq" in args.kinds.split(","):
            for variant in ("fp32", "bf16"):
                name = f"small rvq, {variant}, {args.threads} threads"
                profiles[name] = in_process("profile", "small", "rvq", args.threads, variant, mel_path,
                                            timeout=600) or [{"error": "timed out"}]
    meta = {
        "command": "uv run --no-sync python benchmarks/training.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__, "load": load,
        "seconds": args.seconds, "mel_files": info["files"], "mel_frames": info["frames"],
    }
    text = render(results, peaks, profiles, meta, args.tolerance)
    from sda_audio.atomic import atomic_write_text

    atomic_write_text(args.out, text)
    if args.doc:
        write_doc(text)
    sys.stdout.write(text)
    return text


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
