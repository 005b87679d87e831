"""Running a training run: dataset -> corpus index -> autoencoder -> prior (RVQ) -> controls -> vocoder -> .sda.

:func:`run` runs a :class:`~sda_engine.train.request.TrainRequest` (from :func:`sda_engine.train.planner.plan`)
while holding the model's lock (:mod:`sda_engine.store.locks`): a second job for the same name is refused
rather than sharing its checkpoints. Every model stage runs in the one training loop
(:func:`sda_engine.train.loop.run_stage`: events, checkpoints, cancel/Ctrl-C, exact resume); a time budget is
wall time for the whole job, split by the plan and held by :class:`~sda_engine.train.budget.JobClock`.

Events form a tree a GUI can draw: the run-level job ``train`` (``start`` with ``total`` = stages planned and
``data.budget`` = the budget's split, one ``progress`` per finished stage, ``info`` about the data and the plan,
``done``) and one sub-job per stage, ``train.corpus_index`` (``step``/``total`` = files),
``train.autoencoder``, ``train.prior``, ``train.control`` and ``train.vocoder`` (``step``/``total`` =
optimisation steps).

Under ``torchrun`` (several processes, :mod:`sda_engine.train.distributed`) every rank runs the model stages
together; rank 0 alone holds the lock, indexes the corpus, emits events, writes checkpoints, fits the musical
controls, trains the vocoder and writes the model file, while the other ranks wait for it at a barrier.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from sda_audio.augment import default_augmentation
from sda_audio.errors import SdaError
from sda_audio.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_events
from sda_engine.store.home import SdaHome
from sda_engine.store.locks import model_lock
from sda_engine.train import distributed
from sda_engine.train.autoencoder_stage import AutoencoderStage
from sda_engine.train.base_start import BaseChoice, BaseStart, base_record, load_base_start
from sda_engine.train.budget import JobClock, describe_split
from sda_engine.train.checkpoints import Checkpoint, CheckpointManager
from sda_engine.train.controls import ControlSection, choose_in_library, fit_controls_for
from sda_engine.train.corpus import build_corpus_index, corpus_vocoder
from sda_engine.train.data import HOP, SAMPLE_RATE, TrainingData
from sda_engine.train.forms import detect_training_form
from sda_engine.train.growth import GrowingBase, load_growth_base
from sda_engine.train.loop import StageOutcome, StagePlan, run_stage
from sda_engine.train.model_writer import VocoderSection, write_model
from sda_engine.train.planner import EVALS_PER_STAGE, TIMED_MIN_DELTA
from sda_engine.train.prior_stage import PriorStage
from sda_engine.train.request import TrainRequest
from sda_engine.train.result import TrainResult
from sda_engine.train.run_job import RUN_JOB, RunJob
from sda_engine.train.vocoder import train_vocoder_for, vocoder_checkpoint_dir
from sda_engine.train.vocoder_stage import VocoderPlan
from sda_models.model_file import ModelBundle

log = logging.getLogger(__name__)


def run(request: TrainRequest, on_event: ProgressCallback = ignore_events, cancel: CancelToken | None = None,
        home: SdaHome | str | Path | None = None) -> TrainResult:
    """Train the model ``request`` plans and save it to the library as ``<request.name>.sda``.

    Args:
        request: the resolved run (:func:`~sda_engine.train.planner.plan`); a resumed request continues
            exactly from the newest checkpoint (same data order, RNG and optimizer state).
        on_event / cancel: progress events (see the module docstring) and a cancel token; cancelling (or
            Ctrl-C) saves a checkpoint and raises ``Cancelled``.
        home: the sda home (default ``$SDA_HOME``).

    Returns:
        :class:`~sda_engine.train.result.TrainResult`.

    Raises:
        SdaError: another job is training the same model; the name is taken; nothing to resume; its
            ``action`` says which remedy applies (``overwrite``, ``restart``, ``resume``, ``grow``).
        Cancelled: the job was cancelled; a checkpoint was saved (``action="resume"``).
    """
    t_start = time.monotonic()
    home = home if isinstance(home, SdaHome) else SdaHome(home)
    if not request.name:
        raise SdaError("the training request names no model", hint="plan it with the model's name")
    device = distributed.setup(request.device)
    main = distributed.is_main()
    if not main:
        on_event = ignore_events  # progress is rank 0's to tell
    lock = model_lock(home, request.name, job="trained") if main else contextlib.nullcontext()
    with lock:
        job = _TrainingRun(request, home, on_event, cancel or CancelToken(), device)
        result = job.run()
    distributed.barrier()  # the other ranks wait until rank 0 has written the model
    result.seconds = time.monotonic() - t_start
    job.run_job.done(f"model '{request.name}' saved to {result.model_path}", path=str(result.model_path))
    return result


class _TrainingRun:
    """One call of :func:`run`, stage by stage (the model's lock is held around it)."""

    def __init__(self, request: TrainRequest, home: SdaHome, on_event: ProgressCallback,
                 cancel: CancelToken, device: torch.device | None = None) -> None:
        self.req, self.home, self.on_event, self.cancel = request, home, on_event, cancel
        self.name = request.name
        self.device = device if device is not None else torch.device(request.device)
        self.main = distributed.is_main()
        self.world = distributed.world_size()
        self.manager = CheckpointManager(home.checkpoint_dir(self.name))
        self.voc_dir = vocoder_checkpoint_dir(home, self.name)
        self.warnings: list[str] = []
        self.result = TrainResult(name=self.name, model_path=None, kind=request.kind, size=request.size,
                                  device=str(self.device), size_reason=request.size_reason, request=request)
        self.run_job = RunJob(self.emit, request.stages)

    def emit(self, event: ProgressEvent) -> None:
        if event.kind == "warning":
            self.warnings.append(event.message)
        self.on_event(event)

    def run(self) -> TrainResult:
        req, result = self.req, self.result
        ckpt, growing = self._start()
        clock = JobClock(req, spent=self._spent_before(ckpt))
        files, tr = [Path(p) for p in req.files], req.training
        processes = f" in {self.world} processes" if self.world > 1 else ""
        self.run_job.start(f"training a {req.kind.upper()} model '{self.name}' ({req.size} size) on {len(files)} "
                           f"files on {self.device}{processes}", budget=req.budget_split, processes=self.world)
        # each rank draws its own batches: rank 0 what a single process draws, the others from seeds of their own
        torch.manual_seed(distributed.sampler_seed(req.seed))
        data = TrainingData(files, tr.segment_frames * HOP, seed=req.seed,
                            augment=default_augmentation() if tr.augment else None,
                            val_fraction=max(tr.val_fraction, 0.1), on_event=self.emit, job=RUN_JOB,
                            pad_short=tr.cached_variants > 0)
        if not self.main:
            data.generator.manual_seed(distributed.sampler_seed(req.seed))
        self._plan_info(data)
        form = self._form() if self.main else None
        meta: dict[str, Any] = {"request": req.to_dict()}
        index_path = self.home.corpus_index_path(self.name)
        if not self.main:
            result.corpus_index = None  # rank 0 indexes the corpus (and renders the previews)
        elif ckpt is None or not index_path.is_file():
            result.corpus_index = build_corpus_index(self.home, self.name, files, self.emit, self.cancel)
        else:
            result.corpus_index = index_path
        self.run_job.stage_done("corpus_index")
        oneshots = form is not None and form.get("form") == "oneshot"
        start = growing if growing is not None else self._base_start(ckpt)
        ae = AutoencoderStage(req.autoencoder, tr, data, self.device, self.home, self.name, growing=start,
                              ckpt=ckpt, vocoder=corpus_vocoder(result.corpus_index),
                              onset_share=ONSET_SHARE if oneshots else 0.0)
        if ae.cache is not None:
            self.run_job.info(ae.cache.report.describe(), cache=dataclasses.asdict(ae.cache.report))
        if ckpt is None:
            clock.setup_done()
        self._autoencoder(ae, ckpt, growing, clock, meta)
        prior = self._prior(ae, data, ckpt, growing, clock, meta, oneshots)
        if not self.main:
            return result  # the rest is rank 0's: controls, vocoder, the model file
        self.cancel.raise_if_cancelled("training")
        control = self._controls(ae, prior)
        with distributed.local_only():  # rank 0 trains the vocoder alone
            vocoder = self._vocoder(data, ckpt, clock)
        result.warnings = self.warnings
        result.model_path = write_model(self.home, req, ae, prior, data, result, vocoder, control, form)
        if control is not None and req.chooses_controls_by_sweep:
            chosen = choose_in_library(self.home, self.name, result.model_path, self.emit, self.cancel)
            if chosen is not None:
                result.stages["control"] = {"realisation": chosen, "chosen_by": "generated sweep"}
        return result

    # -- the steps of a run -------------------------------------------------------------------------
    def _start(self) -> tuple[Checkpoint | None, GrowingBase | None]:
        """The checkpoint to resume from and the model being grown (``None`` when not); a fresh run clears
        the name's old checkpoints. Checked again here, under the lock: the name is free, the checkpoint is
        there."""
        req, home = self.req, self.home
        if not self.main:  # rank 0 checks, clears and loads; the others read the same checkpoint
            ckpt = self.manager.load_latest() if req.resume else None
            self._check_world(ckpt)
            return ckpt, load_growth_base(home, self.name) if req.grown_from and (
                not req.resume or home.model_path(self.name).is_file()) else None
        if not (req.resume or req.grown_from or req.overwrite) and home.model_path(self.name).exists():
            raise SdaError(f"a model named '{self.name}' already exists", path=home.model_path(self.name),
                           hint="choose another name, replace the existing model, or add files to grow it",
                           action="overwrite")
        if req.resume:
            ckpt = self.manager.load_latest()
            if ckpt is None:
                raise SdaError(f"no checkpoint to resume for model '{self.name}'", path=self.manager.folder,
                               hint="train from scratch instead", action="restart")
            self._check_world(ckpt)
            growing = load_growth_base(home, self.name) if req.grown_from and home.model_path(self.name).is_file() \
                else None
            return ckpt, growing
        growing = load_growth_base(home, self.name) if req.grown_from else None
        if self.manager.list():
            self.emit(ProgressEvent(RUN_JOB, "info",
                                    message=f"starting over: earlier checkpoints of '{self.name}' were removed"))
            self.manager.clear()
        CheckpointManager(self.voc_dir).clear()  # a fresh run's vocoder starts afresh
        return None, growing

    def _base_start(self, ckpt: Checkpoint | None) -> BaseStart | None:
        """The base the autoencoder starts from (a fresh run whose plan chose one), told in an ``info`` event
        either way; a resumed run's weights come from its checkpoint."""
        choice = self.req.base
        if choice is None:
            return None
        if ckpt is None:
            self.run_job.info(f"start: {choice.get('reason')}", base=base_record(choice))
        if ckpt is not None or not choice.get("path"):
            return None
        return load_base_start(BaseChoice.from_dict(choice), self.req.autoencoder)

    def _check_world(self, ckpt: Checkpoint | None) -> None:
        """Exact resume needs each rank's own states: a checkpoint resumes with the number of processes that
        made it."""
        made = int(ckpt.meta.get("world_size", 1)) if ckpt is not None else self.world
        if made != self.world:
            raise SdaError(f"the checkpoint {ckpt.path if ckpt is not None else ''} was made by {made} "
                           f"training process(es), this run has {self.world}",
                           path=ckpt.path if ckpt is not None else None,
                           hint=f"resume it with {made} process(es) (sda train --processes {made}), "
                                "or train from scratch", action="restart")

    def _form(self) -> dict[str, Any] | None:
        """The material's form (one-shots, phrases, textures), told in an ``info`` event; it reads the files
        only (no random numbers, the data untouched). A file it cannot measure leaves the model without one."""
        try:
            form = detect_training_form(self.req.files, self.req.form)
        except (SdaError, ValueError, OSError) as exc:  # never stop a training run over the form
            self.emit(ProgressEvent(RUN_JOB, "warning", message=f"could not tell the material's form: {exc}"))
            return None
        self.run_job.info(f"form: {form['message']}", form=form["form"], counts=form["counts"], mixed=form["mixed"])
        return form

    def _spent_before(self, ckpt: Checkpoint | None) -> float:
        """The job time the interrupted run had spent (its newest model or vocoder checkpoint says)."""
        if ckpt is None:
            return 0.0
        latest_voc = CheckpointManager(self.voc_dir).latest_path()
        voc = Checkpoint(step=0, stage="vocoder", meta=_meta(latest_voc)) if latest_voc is not None else None
        return JobClock.spent_before(ckpt, voc)

    def _plan_info(self, data: TrainingData) -> None:
        req, tr = self.req, self.req.training
        seg_seconds = tr.segment_frames * HOP / SAMPLE_RATE
        train_seconds = sum(len(it.samples) for it in data.train_items) / SAMPLE_RATE
        epochs = tr.max_steps * tr.batch_size * seg_seconds / max(train_seconds, 1e-9)
        regularised = ", ".join(f"{k} {a}" for k, a in req.autoencoder.regularised.items())
        threads = f" on {torch.get_num_threads()} CPU threads" if self.device.type == "cpu" else ""
        if self.world > 1:
            threads += f" in each of {self.world} processes (each its own batches, gradients averaged)"
        if tr.schedule == "time":
            steps = (f"plan: the autoencoder trains for its share of the time{threads} in batches of {tr.batch_size} "
                     f"segments of {seg_seconds:.2f} s, the learning rate decaying over that time, and stops earlier "
                     f"once converged (validation not {TIMED_MIN_DELTA:.1%} better for {req.patience} of its "
                     f"{EVALS_PER_STAGE} evaluations); {train_seconds:.0f} s of training audio")
        else:
            steps = (f"plan: {tr.max_steps} autoencoder steps x {tr.batch_size} segments of {seg_seconds:.2f} s = "
                     f"about {epochs:.1f} passes over {train_seconds:.0f} s of training audio{threads}")
        self.run_job.info(
            (f"{steps} ({len(data.val_items)} validation part(s), split by {data.split.method})"
             + (f"; {describe_split(req.budget_split, req.max_minutes)}" if req.max_minutes else "")
             + (f"; attribute-regularised latent dims: {regularised}" if req.regularise_controls else "")),
            steps=tr.max_steps, batch_size=tr.batch_size, segment_seconds=seg_seconds, epochs=epochs,
            split=data.split.method, stages=list(req.stages), budget=req.budget_split)

    def _stage_meta(self, meta: dict[str, Any], clock: JobClock, stage: str, ckpt: Checkpoint | None
                    ) -> dict[str, Any]:
        """The checkpoint meta of a stage starting (or resuming) now: the job time spent before it began."""
        resumed = float(ckpt.meta.get("elapsed_seconds", 0.0)) if ckpt is not None and ckpt.stage == stage else 0.0
        return {**meta, **clock.meta(minus=resumed)}

    def _autoencoder(self, ae: AutoencoderStage, ckpt: Checkpoint | None, growing: GrowingBase | None,
                     clock: JobClock, meta: dict[str, Any]) -> None:
        req, result, tr = self.req, self.result, self.req.training
        old_files = [Path(p) for p in req.old_files]
        if growing is not None:
            result.recon_before = ae.reconstruction_error(old_files)
            self.emit(ProgressEvent("train.autoencoder", "info", message=(
                f"growing '{self.name}': reconstruction error on the {len(old_files)} old files before: "
                f"{result.recon_before:.4f}")))
        if ckpt is not None and ckpt.stage == "prior":
            ae.load_weights(ckpt)
            done = ckpt.meta.get("done_stages", {}).get("autoencoder")
            outcome = StageOutcome(**done) if done else StageOutcome(steps=0, stop_reason="resumed")
        else:
            plan = stage_plan("autoencoder", tr, req.patience, clock.deadline("autoencoder"))
            outcome = run_stage(plan, ae, self.manager, self.emit, self.cancel, resume_from=ckpt,
                                meta=self._stage_meta(meta, clock, "autoencoder", ckpt))
        result.collect("autoencoder", outcome)
        self.run_job.stage_done("autoencoder", outcome)
        meta["done_stages"] = {"autoencoder": asdict(outcome)}
        if old_files:
            result.recon_after = ae.reconstruction_error(old_files)
            before = result.recon_before if result.recon_before is not None else float("nan")
            self.emit(ProgressEvent("train.autoencoder", "info", message=(
                f"reconstruction error on the old files after growing: {result.recon_after:.4f} "
                f"(before: {before:.4f})")))

    def _prior(self, ae: AutoencoderStage, data: TrainingData, ckpt: Checkpoint | None,
               growing: GrowingBase | None, clock: JobClock, meta: dict[str, Any], oneshots: bool = False) -> Any:
        req, ptr = self.req, self.req.prior_training
        if req.prior is None or ptr is None:
            return None
        stage = PriorStage(req.prior, ptr, ae, data, self.device, self.home, self.name, ckpt=ckpt,
                           init_prior=growing.prior if growing is not None else None, oneshots=oneshots)
        plan = stage_plan("prior", ptr, req.patience, clock.deadline("prior"))
        resume_from = ckpt if ckpt is not None and ckpt.stage == "prior" else None
        outcome = run_stage(plan, stage, self.manager, self.emit, self.cancel, resume_from=resume_from,
                            meta=self._stage_meta(meta, clock, "prior", resume_from))
        self.result.collect("prior", outcome)
        self.run_job.stage_done("prior", outcome)
        return stage.prior

    def _controls(self, ae: AutoencoderStage, prior: Any) -> ControlSection | None:
        if not self.req.fit_controls:
            return None
        bundle = ModelBundle(metadata={}, autoencoder=ae.model.eval(), stats=ae.stats, prior=prior)
        control = fit_controls_for(bundle, self.req.files, self.emit, self.cancel)
        if control is not None:
            self.result.stages["control"] = {"realisation": control[1].get("realisation")}
        self.run_job.stage_done("control")
        return control

    def _vocoder(self, data: TrainingData, ckpt: Checkpoint | None, clock: JobClock) -> VocoderSection | None:
        req = self.req
        if not req.trains_vocoder:
            return None
        latest = CheckpointManager(self.voc_dir).latest_path() if ckpt is not None else None
        resume = latest is not None
        plan = VocoderPlan(minutes=req.vocoder_minutes or None, max_steps=req.vocoder_steps,
                           deadline=clock.deadline("vocoder"))
        meta = {"request": req.to_dict(), **clock.meta(minus=_elapsed(latest))}
        vocoder = train_vocoder_for(data, self.device, plan, self.emit, self.cancel, seed=req.seed,
                                    checkpoint_dir=self.voc_dir, resume=resume, meta=meta)
        self.result.vocoder = "hifigan"
        self.result.stages["vocoder"] = {"steps": vocoder[1]["steps"], "stop_reason": vocoder[1]["stop_reason"],
                                         "best_val": None, "resumed_from": None, "minutes": vocoder[1]["minutes"]}
        self.run_job.stage_done("vocoder")
        return vocoder


MIN_EVAL_SECONDS = 2.0
"""A budget-driven stage evaluates at most this often."""
ANNEAL_SHARE = 0.15
"""When a budget-driven stage stops improving, its learning rate is annealed over this share of its time before it
stops (stopping at a still-high rate kept noisier weights: drums, tiny, 10 min: held-out 0.81 against 0.73 at 5)."""
CHECKPOINT_SECONDS = 60.0
"""A budget-driven stage checkpoints this often (and when cancelled, and at its end)."""
ONSET_SHARE = 0.5
"""Share of a one-shot set's training windows that start at an onset (the cached recipe)."""


def stage_plan(stage: str, tr: Any, patience: int, deadline: float | None) -> StagePlan:
    """The loop's plan of a model stage. A ``time`` schedule (a budget-driven run) has no step limit: it trains
    until its deadline, evaluates :data:`~sda_engine.train.planner.EVALS_PER_STAGE` times over its time,
    checkpoints every :data:`CHECKPOINT_SECONDS`, and stops earlier when it has converged (no validation loss
    better by :data:`~sda_engine.train.planner.TIMED_MIN_DELTA` for ``patience`` evaluations)."""
    if tr.schedule != "time" or deadline is None:
        return StagePlan(stage, f"train.{stage}", tr.max_steps, tr.log_every, tr.eval_every, tr.checkpoint_every,
                         tr.preview_every, patience, deadline=deadline)
    seconds = max(0.0, deadline - time.monotonic())
    return StagePlan(stage, f"train.{stage}", None, tr.log_every, tr.eval_every, tr.checkpoint_every, 0, patience,
                     deadline=deadline, min_delta=TIMED_MIN_DELTA, anneal_share=ANNEAL_SHARE,
                     eval_seconds=max(MIN_EVAL_SECONDS, seconds / EVALS_PER_STAGE),
                     checkpoint_seconds=CHECKPOINT_SECONDS)


def _meta(path: Path | None) -> dict[str, Any]:
    """A checkpoint's JSON meta without its tensors (``{}`` when unreadable)."""
    if path is None:
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _elapsed(path: Path | None) -> float:
    """The stage time a checkpoint records (``0`` without one)."""
    return float(_meta(path).get("elapsed_seconds", 0.0))
