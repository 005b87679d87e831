"""Training the base model on the base corpus: long, resumable, run in pieces (``sda base train CORPUS OUT/``).

The base is an ordinary autoencoder of one of sda's sizes (its shapes are those a user's model of that size and
kind has, so a user's training can start from it), trained on the corpus that ``sda base corpus`` renders. It
runs in the one training loop (:func:`sda_engine.train.loop.run_stage`): a step-count schedule (the learning rate
decays over ``steps``), a checkpoint every ``checkpoint_every`` steps in ``OUT/checkpoints/``, exact resume. A
run may be given a number of wall-clock ``minutes``: when they are up it checkpoints and stops, and the next run
with the same folder continues where it stopped, so hours of CPU training can be spread over several sittings
(or a background job that is killed loses at most ``checkpoint_every`` steps).

Whenever a run stops (finished, out of minutes, cancelled) the weights so far are written as an ordinary
``.sda`` model file, ``OUT/base-<size>-<kind>.sda`` (no prior: the base knows sound, not a user's material),
whose metadata ``base`` section says what it is: size, kind, steps, the corpus's recipe and licences. Copying
it into the ``sda-base`` package (``scripts/ship_base.py``) is what ships it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sda_audio.errors import Cancelled, SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events

JOB = "base.train"
RUN_FILE = "base-run.json"
MIN_CORPUS_FILES = 8


@dataclass(frozen=True)
class BaseTrainOptions:
    """How the base is trained. ``size``/``kind`` fix its shapes; the others fix its recipe, which a resumed run
    must share (``steps`` may grow: the run then trains on to the new count, its learning rate decaying over it).

    Attributes:
        minutes: wall-clock minutes for *this* run; when they are up it checkpoints and stops (``None``: until
            ``steps``).
        cached_variants / cache_megabytes: augmented copies of the corpus's log-mels cached, and the cache's
            memory bound (the clean copy always counts; fewer copies are made when they would not fit).
        val_fraction: share of the corpus's files held out (validation loss, the reconstruction measure).
    """

    size: str = "tiny"
    kind: str = "rvq"
    steps: int = 60_000
    batch_size: int = 32
    lr: float | None = None
    minutes: float | None = None
    seed: int = 0
    cached_variants: int = 2
    cache_megabytes: float = 2048.0
    val_fraction: float = 0.05
    checkpoint_every: int = 1000
    eval_every: int = 1000
    log_every: int = 50
    device: str = "cpu"

    def recipe(self) -> dict[str, Any]:
        """What a resumed run must share with the run that started the folder."""
        return {k: v for k, v in asdict(self).items() if k not in ("minutes", "steps", "device", "checkpoint_every",
                                                                    "eval_every", "log_every")}


@dataclass
class BaseTrainResult:
    """What a run of :func:`train_base` did: ``steps`` reached of ``total_steps``, whether the recipe is
    ``finished``, the model file written (``model_path``), the last validation loss and this run's seconds."""

    steps: int
    total_steps: int
    finished: bool
    stop_reason: str
    model_path: Path | None
    val_loss: float | None
    seconds: float
    corpus_files: int
    corpus_seconds: float
    resumed_from: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["model_path"] = str(self.model_path) if self.model_path else None
        out.pop("history")
        return out


def corpus_files(corpus: Path) -> tuple[list[Path], dict[str, Any]]:
    """The corpus's audio files, in its manifest's order, and the manifest (a folder without one: its audio files
    sorted, and an empty manifest). Files the manifest names that are missing are refused: rebuild the corpus."""
    corpus = Path(corpus).expanduser().resolve()
    if not corpus.is_dir():
        raise SdaError("the base corpus folder is not there", path=corpus,
                       hint="render it first: sda base corpus OUT/")
    manifest_path = corpus / "manifest.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
            files = [corpus / str(entry["path"]) for entry in manifest["files"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SdaError(f"cannot read the corpus's manifest ({exc})", path=manifest_path,
                           hint="run sda base corpus on the folder again to rewrite it") from exc
        missing = [p for p in files if not p.is_file()]
        if missing:
            raise SdaError(f"{len(missing)} file(s) of the corpus's manifest are missing", path=missing[0],
                           hint="run sda base corpus on the folder again: it renders what is missing")
    else:
        from sda_engine.train.data import list_dataset_files

        manifest, files = {}, list_dataset_files(corpus)
    if len(files) < MIN_CORPUS_FILES:
        raise SdaError(f"the corpus has {len(files)} audio file(s); the base needs at least {MIN_CORPUS_FILES}",
                       path=corpus, hint="render a larger corpus: sda base corpus OUT/ --minutes 120")
    return files, manifest


def base_file_name(size: str, kind: str) -> str:
    return f"base-{size}-{kind}.sda"


def train_base(corpus: Path, out: Path, options: BaseTrainOptions = BaseTrainOptions(),
               on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None) -> BaseTrainResult:
    """Train (or go on training) the base in ``out`` on the corpus in ``corpus``.

    A folder that holds checkpoints of an earlier run continues it (the same recipe: :meth:`BaseTrainOptions.recipe`);
    the folder is locked while a run trains in it. Returns when ``options.steps`` are reached, the minutes are up
    or the job is cancelled (Ctrl-C), in each case with the model file written.

    Raises:
        SdaError: no corpus, a corpus too small, a folder started with another recipe, a run already training
            there.
    """
    import contextlib

    from sda_engine.store.locks import folder_lock
    from sda_engine.train import distributed

    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    files, manifest = corpus_files(corpus)
    distributed.setup(options.device)  # under torchrun: join the group; rank 0 alone locks, records and writes
    main = distributed.is_main()
    lock = folder_lock(out, f"the base training folder {out}", "trained") if main else contextlib.nullcontext()
    with lock:
        result = _BaseRun(out, files, manifest, options, on_event, cancel or CancelToken()).run()
    distributed.barrier()
    return result


class _BaseRun:
    def __init__(self, out: Path, files: list[Path], manifest: dict[str, Any], options: BaseTrainOptions,
                 on_event: ProgressCallback, cancel: CancelToken) -> None:
        self.out, self.files, self.manifest, self.opt = out, files, manifest, options
        self.on_event, self.cancel = on_event, cancel

    def _check_recipe(self) -> None:
        """The folder's first run records its recipe; a later run with another one is refused."""
        path = self.out / RUN_FILE
        recipe = {**self.opt.recipe(), "files": len(self.files)}
        if path.is_file():
            try:
                before = json.loads(path.read_text()).get("recipe", {})
            except (OSError, ValueError) as exc:
                raise SdaError(f"cannot read the base run's record ({exc})", path=path,
                               hint="delete the folder's checkpoints and the record to start over") from exc
            changed = sorted(k for k in set(before) | set(recipe) if before.get(k) != recipe.get(k))
            if changed:
                raise SdaError(f"this folder's base training was started with another recipe ({', '.join(changed)}"
                               f": {', '.join(f'{before.get(k)} then {recipe.get(k)}' for k in changed)})",
                               path=path, hint="use the same settings to continue it, or another folder to start "
                               "a new base")
            return
        from sda_audio.atomic import atomic_write_text

        atomic_write_text(path, json.dumps({"recipe": recipe}, indent=2))

    def run(self) -> BaseTrainResult:
        import torch

        from sda_audio.augment import default_augmentation
        from sda_engine.store.home import SdaHome
        from sda_engine.train import distributed
        from sda_engine.train.autoencoder_stage import AutoencoderStage
        from sda_engine.train.checkpoints import CheckpointManager
        from sda_engine.train.data import HOP, TrainingData
        from sda_engine.train.loop import StagePlan, run_stage
        from sda_models.configs import preset_config

        t0 = time.monotonic()
        opt = self.opt
        if distributed.is_main():
            self._check_recipe()
        distributed.barrier()
        device = distributed.setup(opt.device)
        cfg = preset_config(opt.size, opt.kind, n_files=len(self.files))
        tr = cfg.training.replace(batch_size=opt.batch_size, max_steps=opt.steps, seed=opt.seed,
                                  cached_variants=opt.cached_variants, cache_megabytes=opt.cache_megabytes,
                                  val_fraction=opt.val_fraction, schedule="steps",
                                  **({"lr": opt.lr} if opt.lr else {}))
        manager = CheckpointManager(self.out / "checkpoints")
        ckpt = manager.load_latest()
        made = int(ckpt.meta.get("world_size", 1)) if ckpt is not None else distributed.world_size()
        if made != distributed.world_size():
            raise SdaError(f"the base's checkpoint was made by {made} training process(es), this run has "
                           f"{distributed.world_size()}", path=ckpt.path if ckpt is not None else None,
                           hint=f"continue it with {made} process(es) (torchrun --nproc-per-node {made})")
        emit = self.on_event if distributed.is_main() else ignore_events
        start = ckpt.step if ckpt is not None else 0
        emit(ProgressEvent(JOB, "info", message=(
            f"{'continuing' if ckpt else 'starting'} the base ({opt.size} {opt.kind}) at step {start} of "
            f"{opt.steps} on {len(self.files)} corpus files, batches of {opt.batch_size} x "
            f"{tr.segment_frames} frames, on {device} ({torch.get_num_threads()} threads)"
            + (f"; this run stops after {opt.minutes:g} min" if opt.minutes else ""))))
        torch.manual_seed(distributed.sampler_seed(opt.seed))
        data = TrainingData(self.files, tr.segment_frames * HOP, seed=opt.seed,
                            augment=default_augmentation() if tr.augment else None, val_fraction=opt.val_fraction,
                            on_event=emit, job=JOB, pad_short=True)
        if not distributed.is_main():
            data.generator.manual_seed(distributed.sampler_seed(opt.seed))
        home = SdaHome(self.out, create=False)
        stage = AutoencoderStage(cfg.autoencoder, tr, data, device, home, "base", ckpt=ckpt)
        if stage.cache is not None:
            emit(ProgressEvent(JOB, "info", message=stage.cache.report.describe()))
        plan = StagePlan("autoencoder", JOB, opt.steps, opt.log_every, opt.eval_every, opt.checkpoint_every, 0,
                         patience=10**9, continue_finished=True,
                         title=f"the {opt.size} {opt.kind} base on {len(self.files)} corpus files")
        timer = _stop_after(opt.minutes, self.cancel)
        stop_reason, steps, history, resumed = "cancelled", start, [], None
        try:
            outcome = run_stage(plan, stage, manager, emit, self.cancel, resume_from=ckpt,
                                meta={"base": {"recipe": opt.recipe(), "steps": opt.steps}})
            stop_reason, steps, history, resumed = (outcome.stop_reason, outcome.steps, outcome.history,
                                                    outcome.resumed_from)
        except Cancelled:
            latest = manager.load_latest()
            steps = latest.step if latest is not None else start
            stop_reason = "minutes up" if timer is not None and timer.fired else "cancelled"
        finally:
            if timer is not None:
                timer.cancel()
        val = stage.evaluate()
        val_loss = float(val["val_loss"]) if val else None
        path = None
        if distributed.is_main():
            path = self._write(stage, cfg, tr, steps, val_loss, data)
        seconds = time.monotonic() - t0
        finished = steps >= opt.steps
        emit(ProgressEvent(JOB, "done", message=(
            f"base at step {steps} of {opt.steps} ({'finished' if finished else stop_reason + ': run again to go on'})"
            + (f", validation loss {val_loss:.4f}" if val_loss is not None else "") + (f"; {path}" if path else "")),
            step=steps, total=opt.steps, data={"path": str(path) if path else None, "finished": finished}))
        return BaseTrainResult(steps=steps, total_steps=opt.steps, finished=finished, stop_reason=stop_reason,
                               model_path=path, val_loss=val_loss, seconds=seconds, corpus_files=len(self.files),
                               corpus_seconds=data.total_seconds, resumed_from=resumed, history=history)

    def _write(self, stage: Any, cfg: Any, tr: Any, steps: int, val_loss: float | None, data: Any) -> Path:
        from sda_models.model_file import ModelBundle, save_model

        opt = self.opt
        settings = self.manifest.get("settings", {})
        base = {
            "name": f"sda-base-{opt.size}-{opt.kind}", "size": opt.size, "kind": opt.kind, "steps": steps,
            "planned_steps": opt.steps, "val_loss": val_loss, "recipe": opt.recipe(),
            "training": tr.to_dict(),
            "corpus": {"files": len(self.files), "seconds": round(data.total_seconds, 1),
                       "command": settings.get("command"), "seed": settings.get("seed"),
                       "minutes": settings.get("minutes"), "sources": settings.get("sources"),
                       "licences": self.manifest.get("licences", {})},
        }
        meta = {"name": base["name"], "base": base,
                "dataset": {"name": "sda base corpus", "n_files": len(self.files), "duration": data.total_seconds}}
        bundle = ModelBundle(metadata=meta, autoencoder=stage.model.eval(), stats=stage.stats, prior=None)
        path = self.out / base_file_name(opt.size, opt.kind)
        save_model(path, bundle)
        stage.model.train()
        return path


class _Timer:
    """Sets the cancel token after ``seconds`` (the loop then checkpoints and stops); ``fired`` says whether it
    did."""

    def __init__(self, seconds: float, cancel: CancelToken) -> None:
        self.fired = False
        self._cancel = cancel
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        self._cancel.cancel()

    def cancel(self) -> None:
        self._timer.cancel()


def _stop_after(minutes: float | None, cancel: CancelToken) -> _Timer | None:
    return _Timer(minutes * 60.0, cancel) if minutes else None
