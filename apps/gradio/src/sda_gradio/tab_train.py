"""The Train tab: train a model on a dataset in a worker thread, watch it learn, cancel and resume.

The page polls :meth:`~sda_gradio.jobs.JobRunner.snapshot` once a second (a ``gr.Timer``) and redraws only
when the job moved: the loss curves (train and validation per stage), step/total and ETA, codebook health,
the newest preview, and the job's log. Cancel stops the engine at its next step with a checkpoint; Resume
continues exactly from it. "Train vocoder" trains a model's own HiFi-GAN with its own curve and says in plain
words whether it beat the Griffin-Lim floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sda_audio.errors import SdaError
from sda_engine import MODEL_KINDS, MODEL_SIZES, TrainOptions
from sda_gradio.jobs import JobState
from sda_gradio.state import AppState
from sda_gradio.ui import md_escape, seconds_text

KINDS = MODEL_KINDS
SIZES = MODEL_SIZES
LEVELS = ("auto", "2", "3", "4")
CODEBOOKS = ("auto", "64", "128", "256", "512", "1024")
STAGES = ("autoencoder", "prior", "vocoder")
STARTS = (("sda's base model, where it helps", "auto"), ("from scratch: only my recordings", "scratch"))
"""The starting points a person may pick: the installed base model where the measurements say it helps
(docs/base.md), or random weights."""


@dataclass(frozen=True)
class TrainForm:
    """The Train tab's settings (what the page sends); :meth:`options` turns them into the engine's
    :class:`~sda_engine.TrainOptions` (``0`` and ``"auto"`` mean the size's own value)."""

    dataset: str
    name: str
    kind: str = "rvq"
    size: str = "auto"
    levels: str = "auto"
    codebook: str = "auto"
    minutes: float = 0.0
    vocoder_minutes: float = 0.0
    overwrite: bool = False
    steps: int = 0
    prior_steps: int = 0
    checkpoint_every: int = 0
    eval_every: int = 0
    batch_size: int = 0
    controls: bool = True
    regularise_controls: bool = False
    start: str = "auto"

    def options(self, dataset_folder: str | None = None, resume: bool = False, device: str | None = None
                ) -> TrainOptions:
        """The training options of this form for the dataset at ``dataset_folder``; a resume takes its other
        settings from the checkpoint, so only the budgets are passed on."""
        name = (self.name or "").strip()
        self.check()
        budgets = {"max_minutes": float(self.minutes or 0) or None,
                   "vocoder_minutes": float(self.vocoder_minutes or 0.0)}
        if resume:
            return TrainOptions(name=name, resume=True, device=device, **budgets)
        rvq = self.kind == "rvq"
        return TrainOptions(
            name=name, dataset=dataset_folder, kind=self.kind, size=self.size, overwrite=bool(self.overwrite),
            rvq_levels=int(self.levels) if rvq and self.levels != "auto" else None,
            codebook_size=int(self.codebook) if rvq and self.codebook != "auto" else None,
            steps=int(self.steps or 0) or None, prior_steps=int(self.prior_steps or 0) or None,
            checkpoint_every=int(self.checkpoint_every or 0) or None, eval_every=int(self.eval_every or 0) or None,
            batch_size=int(self.batch_size or 0) or None, controls=bool(self.controls),
            regularise_controls=bool(self.regularise_controls), device=device,
            base="none" if self.start == "scratch" else None, **budgets)


    def check(self) -> None:
        """Every number of the form is a readable :class:`SdaError` when it is negative or not a number."""
        for label, value in (("the time budget", self.minutes), ("the vocoder's minutes", self.vocoder_minutes),
                             ("the autoencoder steps", self.steps), ("the prior steps", self.prior_steps),
                             ("'checkpoint every'", self.checkpoint_every), ("'evaluate every'", self.eval_every),
                             ("the batch size", self.batch_size)):
            number = _number(value, label)
            if number < 0:
                raise SdaError(f"{label} cannot be negative ({number:g})", hint="use 0 for the size's own value")


def _number(value: Any, label: str) -> float:
    try:
        number = float(value or 0)
    except (TypeError, ValueError):
        raise SdaError(f"{label} must be a number, not {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise SdaError(f"{label} must be a finite number, not {value}")
    return number


def start_training(state: AppState, form: TrainForm, resume: bool = False) -> str:
    """Start (or resume) training in the worker; returns the status line. The run is planned in the worker,
    so a taken name or a dataset with errors ends the job with its message."""
    from sda_engine import plan_training, run_training

    dataset: str | None = None
    if not resume:
        if not form.dataset:
            raise SdaError("choose a dataset to train on", hint="import recordings on the Data tab first")
        folder = state.home.dataset_dir(form.dataset)
        if not folder.is_dir():
            raise SdaError(f"no dataset named '{form.dataset}'", path=folder,
                           hint="import recordings on the Data tab first")
        dataset = str(folder)
    options = form.options(dataset, resume=resume, device=state.device)
    name, home = options.name, state.home

    def job(on_event: Any, cancel: Any) -> Any:
        return run_training(plan_training(options, home, on_event), on_event, cancel, home)

    state.train.start(f"{'resuming' if resume else 'training'} '{name}'", job,
                      curve=stored_curve(state, name) if resume and name else None)
    return f"**{'Resuming' if resume else 'Training'} '{md_escape(name)}'…**"


def stored_curve(state: AppState, name: str, per_stage: int = 400) -> list[dict[str, Any]]:
    """The loss curve kept in the newest checkpoint of model ``name`` (every stage trained so far), thinned to
    at most ``per_stage`` training-loss points per stage (validation points are all kept), so a resumed run
    draws on from where the cancelled one stopped."""
    from sda_engine import stored_training_curve

    try:
        points = stored_training_curve(name, state.home)
    except SdaError:  # a bad name: the run itself says so
        return []
    out: list[dict[str, Any]] = []
    for stage in dict.fromkeys(p["stage"] for p in points):
        train = [p for p in points if p["stage"] == stage and p["series"] == "train"]
        stride = max(1, -(-len(train) // per_stage))
        keep = train[::stride] + ([train[-1]] if train and (len(train) - 1) % stride else [])
        out += keep + [p for p in points if p["stage"] == stage and p["series"] == "validation"]
    return out


def start_vocoder(state: AppState, model: str, minutes: float, resume: bool = False, max_steps: int = 0,
                  config: Any = None) -> str:
    """Train the per-model HiFi-GAN vocoder of ``model`` in the worker (``config``: a
    ``HifiGanTrainingConfig``, default the engine's)."""
    from sda_engine import VocoderPlan, train_vocoder

    if not model:
        raise SdaError("choose a model whose vocoder to train", hint="train a model first")
    home, device = state.home, state.device
    plan = VocoderPlan(minutes=float(minutes) or None, max_steps=int(max_steps) or None)

    def job(on_event: Any, cancel: Any) -> Any:
        return train_vocoder(model, plan, device=device, home=home, resume=resume, on_event=on_event,
                             cancel=cancel, config=config)

    state.train.start(f"training the vocoder of '{model}'", job)
    return f"**Training the vocoder of '{md_escape(model)}'…**"


def start_fit_controls(state: AppState, model: str, fit_config: Any = None) -> str:
    """Fit the eight musical controls of library model ``model`` on its training recordings (in the worker) and
    store them in its file, so the Generate tab's sliders work for it. ``fit_config``: a
    :class:`sda_control.fit.ControlFitConfig` (default: sda-control's)."""
    from sda_engine import fit_model_controls

    if not model:
        raise SdaError("choose a model whose controls to fit", hint="train a model first")
    home = state.home

    def job(on_event: Any, cancel: Any) -> Any:
        _, report = fit_model_controls(model, home, on_event=on_event, cancel=cancel, config=fit_config)
        state.forget(model)
        return report

    state.train.start(f"fitting the musical controls of '{model}'", job)
    return f"**Fitting the musical controls of '{md_escape(model)}'…**"


def start_choose_controls(state: AppState, model: str, options: Any = None) -> str:
    """Choose how each control of library model ``model`` is realised by sweeping it through the generator (in
    the worker): the model's own movement where it meets the targets, the labelled effect where not."""
    from sda_engine import choose_model_controls

    if not model:
        raise SdaError("choose a model whose controls to check", hint="train a model first")
    home = state.home

    def job(on_event: Any, cancel: Any) -> Any:
        path, realisation = choose_model_controls(model, home, on_event=on_event, cancel=cancel, options=options)
        state.forget(model)
        return ChosenControls(path=str(path), realisation=realisation)

    state.train.start(f"checking the musical controls of '{model}' through the generator", job)
    return f"**Checking the musical controls of '{md_escape(model)}' through the generator…**"


@dataclass(frozen=True)
class ChosenControls:
    """What :func:`start_choose_controls` returns: the model file and each control's realisation."""

    path: str
    realisation: dict[str, str]

    def to_text(self) -> str:
        return "\n".join(f"{name:<11} {REALISED_WORDS.get(how, how)}" for name, how in self.realisation.items())


REALISED_WORDS = {"searched": "the model moves itself (searched)", "latent": "the model moves itself (latent)",
                  "steered": "the model's own timing (steered)", "assisted": "an audio effect after the model (assisted)"}


def status_markdown(snap: JobState) -> str:
    """Where the job stands, in words."""
    if snap.status == "idle":
        return "No training has run since the app started."
    head = {"running": "Running", "done": "Finished", "cancelled": "Cancelled", "failed": "Failed"}[snap.status]
    lines = [f"**{head}: {md_escape(snap.title)}** ({seconds_text(snap.elapsed)})"]
    for job, stage in snap.stages.items():
        if job == "train":
            continue
        total = f" / {stage.total}" if stage.total else ""
        eta = f" · about {seconds_text(stage.eta_seconds)} left" if stage.eta_seconds and not stage.done else ""
        mark = " · done" if stage.done else ""
        lines.append(f"- {md_escape(job.split('.', 1)[-1])}: step {stage.step}{total}{eta}{mark}")
    if snap.error:
        lines.append(f"\n{md_escape(snap.error)}")
    if snap.status == "done" and snap.result is not None:
        if hasattr(snap.result, "evals") and hasattr(snap.result, "stages"):  # a TrainResult
            from sda_engine import training_verdict

            lines.append(f"\n**Verdict:** {md_escape(training_verdict(snap.result))}")
            base = getattr(getattr(snap.result, "request", None), "base", None)
            if base:
                lines.append(f"\n**Started:** {md_escape(base.get('reason'))}")
        if hasattr(snap.result, "to_text"):  # a control fit's report (a training run returns a TrainResult)
            lines.append("\n```\n" + snap.result.to_text() + "\n```\nThe sliders on the Generate tab now use these.")
        else:
            path = getattr(snap.result, "model_path", None) or snap.result
            lines.append(f"\nSaved to {md_escape(path)}. Generate with it on the Generate tab.")
    for verdict in snap.verdicts:
        lines.append(f"\n**Vocoder check:** {md_escape(verdict)}")
    return "\n".join(lines)


def curve_frame(snap: JobState, stage: str) -> Any:
    """The loss curve of one stage as a DataFrame (``step``, ``loss``, ``series``) for ``gr.LinePlot``.

    The column types are fixed, empty or not: an empty frame would otherwise make ``series`` a float column,
    and the browser's chart, built once from the first value it gets, would keep a numeric colour scale (an
    empty chart with a "-Infinity" legend) for the rest of the run."""
    import pandas as pd

    rows = [p for p in snap.curve if p["stage"] == stage]
    return pd.DataFrame({"step": pd.Series([int(p["step"]) for p in rows], dtype="int64"),
                         "loss": pd.Series([float(p["loss"]) for p in rows], dtype="float64"),
                         "series": pd.Series([str(p["series"]) for p in rows], dtype="object")})


def _plot_value(snap: JobState, stage: str) -> Any:
    """The plot's value: the curve, or ``None`` while it has no point (an empty chart would draw axes over an
    infinite extent; with ``None`` the browser builds the chart when the first point comes)."""
    frame = curve_frame(snap, stage)
    return frame if len(frame) else None


def curve_series(snap: JobState, stage: str) -> tuple[str, ...]:
    """The series drawn for one stage (``train`` first). The page passes them as the plot's legend: the
    browser's chart rebuilds itself when they change (its colour scale is fixed when it is built), so the
    chart appears with the first point and again when the validation curve begins."""
    present = {p["series"] for p in snap.curve if p["stage"] == stage}
    return tuple(s for s in ("train", "validation") if s in present)


def health_markdown(snap: JobState) -> str:
    """Codebook health per RVQ level (empty for VAE models)."""
    if not snap.health:
        return ""
    lines = ["**Codebook health** (share of codes in use; dead codes are restarted from the data)", "",
             "| level | codes in use | perplexity | dead codes |", "|---|---|---|---|"]
    for row in snap.health:
        util = row.get("utilisation")
        lines.append(f"| {row.get('level')} | {util:.0%} | {row.get('perplexity', 0):.1f} | "
                     f"{row.get('dead_codes', '')} |" if isinstance(util, float) else
                     f"| {row.get('level')} | {util} | {row.get('perplexity')} | {row.get('dead_codes')} |")
    return "\n".join(lines)


def build(state: AppState, datasets_default: list[str]) -> dict[str, Any]:
    """The tab's components (inside an open ``gr.Tab``)."""
    import gradio as gr

    from sda_gradio.ui import guarded

    gr.Markdown("Train a model on your recordings: pick the data, name the model, say how long it may take. You can "
                "cancel at any time and resume later from the last checkpoint.", elem_classes=["sda-note"])
    with gr.Row(equal_height=True):
        dataset = gr.Dropdown(label="Data", choices=datasets_default, info="a dataset imported on the Data tab",
                              elem_id="train-dataset", scale=2)
        name = gr.Textbox(label="Model name", value="my-model", info="how the model is called in your library",
                          elem_id="train-name", scale=2)
        minutes = gr.Number(value=10, label="Time budget (minutes)",
                            info="wall-clock time for the whole job, every stage included; it stops earlier once it "
                                 "has learned what it can (0 = 10 min, or the steps under Advanced)",
                            elem_id="train-minutes", scale=2)
    with gr.Row():
        train_btn = gr.Button("Train", variant="primary", elem_id="train-start")
        cancel_btn = gr.Button("Cancel", variant="stop", elem_id="train-cancel")
        resume_btn = gr.Button("Resume", elem_id="train-resume")
        overwrite = gr.Checkbox(label="Replace an existing one of the same name", value=False,
                                elem_id="train-overwrite")
    message = gr.Markdown(elem_id="train-message")
    with gr.Accordion("Advanced", open=False, elem_id="train-advanced"):
        with gr.Row():
            kind = gr.Radio(list(KINDS), value="rvq", label="Model kind",
                            info="rvq: sound as stacks of short snippets (editable on the Codes tab); "
                                 "vae: one smooth continuous space", elem_id="train-kind")
            size = gr.Dropdown(list(SIZES), value="auto", label="Size",
                               info="bigger learns finer detail but needs more data and time; auto picks for you",
                               elem_id="train-size")
            levels = gr.Dropdown(list(LEVELS), value="auto", label="RVQ levels",
                                 info="how many layers of snippets stack up for each moment; more = finer detail",
                                 elem_id="train-levels")
            codebook = gr.Dropdown(list(CODEBOOKS), value="auto", label="Codebook size",
                                   info="how many distinct sound snippets each level can hold", elem_id="train-codebook")
        with gr.Row():
            voc_minutes = gr.Number(value=0, label="Own vocoder (minutes)",
                                    info="then train the model's own vocoder (turns its sound into audio); 0 = none",
                                    elem_id="train-vocoder-minutes")
            fit_after = gr.Checkbox(value=True, label="Then fit the musical controls", elem_id="train-controls")
            regularise = gr.Checkbox(value=False, label="AR-VAE: tie brightness, warmth and rhythmic to the model's "
                                     "own dimensions while training (steadier sliders, a little less faithful sound)",
                                     elem_id="train-regularise")
            start = gr.Radio([(label, value) for label, value in STARTS], value="auto", label="Starting point",
                             info="sda's base model has heard broad sound (instruments, drums, synthesis) and "
                                  "learns your recordings from there; from scratch knows only your files",
                             elem_id="train-start-from")
        gr.Markdown("Step counts and batch size: 0 = the size's own.", elem_classes=["sda-note"])
        with gr.Row():
            steps = gr.Number(value=0, label="Autoencoder steps", precision=0, elem_id="train-steps")
            prior_steps = gr.Number(value=0, label="Prior steps", precision=0, elem_id="train-prior-steps")
            ckpt_every = gr.Number(value=0, label="Checkpoint every", precision=0, elem_id="train-ckpt")
            eval_every = gr.Number(value=0, label="Evaluate every", precision=0, elem_id="train-eval")
            batch = gr.Number(value=0, label="Batch size", precision=0, elem_id="train-batch")
    status = gr.Markdown(status_markdown(state.train.snapshot()), elem_id="train-status")
    with gr.Row():
        plots = {stage: gr.LinePlot(_plot_value(state.train.snapshot(), stage), x="step", y="loss", color="series",
                                    title=f"{stage} loss", height=260, elem_id=f"train-curve-{stage}",
                                    colors_in_legend=list(curve_series(state.train.snapshot(), stage)),
                                    visible=stage != "vocoder")
                 for stage in STAGES}
    with gr.Row():
        health = gr.Markdown(elem_id="train-health")
        preview = gr.Audio(label="Newest preview", type="filepath", interactive=False, elem_id="train-preview")
    log_box = gr.Textbox(label="Log", lines=6, max_lines=12, interactive=False, elem_id="train-log")
    with gr.Accordion("Train vocoder: a model's own HiFi-GAN", open=False):
        with gr.Row():
            voc_model = gr.Dropdown(label="Model", choices=state.model_names(), elem_id="vocoder-model")
            voc_train_minutes = gr.Number(value=10, label="Minutes", elem_id="vocoder-minutes")
            voc_steps = gr.Number(value=0, label="Steps (0 = by time)", precision=0, elem_id="vocoder-steps")
            voc_resume = gr.Checkbox(label="Continue from its last checkpoint", value=False, elem_id="vocoder-resume")
        voc_btn = gr.Button("Train vocoder", elem_id="vocoder-start")
    with gr.Accordion("Fit the musical controls (the sliders of the Generate tab)", open=False):
        with gr.Row():
            fit_model = gr.Dropdown(label="Model", choices=state.model_names(), elem_id="fit-model")
            fit_btn = gr.Button("Fit controls", elem_id="fit-start")
            choose_btn = gr.Button("Check them through the generator (about a minute)", elem_id="fit-choose")
    seen = gr.State(-1)
    timer = gr.Timer(1.0)

    form_inputs = [dataset, name, kind, size, levels, codebook, minutes, voc_minutes, overwrite, steps, prior_steps,
                   ckpt_every, eval_every, batch, fit_after, regularise, start]

    def form(*values: Any) -> TrainForm:
        return TrainForm(*values)

    def do_train(*values: Any) -> str:
        return start_training(state, form(*values))

    def do_resume(*values: Any) -> str:
        return start_training(state, form(*values), resume=True)

    def do_cancel() -> str:
        return ("**Cancelling…** the engine stops at its next step and saves a checkpoint."
                if state.train.cancel() else "Nothing is running.")

    def do_vocoder(model: str, mins: float, n_steps: float, resume: bool) -> str:
        minutes_, steps_ = _number(mins, "the vocoder's minutes"), _number(n_steps, "the vocoder's steps")
        if minutes_ < 0 or steps_ < 0:
            raise SdaError("the vocoder's minutes and steps cannot be negative", hint="use 0 to leave one out")
        return start_vocoder(state, model, minutes_, resume, int(steps_))

    view_outputs = [message, status, *plots.values(), health, preview, log_box, train_btn, resume_btn, cancel_btn, seen]

    def tick(last_seen: int) -> tuple[Any, ...]:
        if state.train.version == last_seen:
            return tuple(gr.skip() for _ in view_outputs)
        snap = state.train.snapshot()
        plot_updates = []
        for stage in STAGES:
            frame = curve_frame(snap, stage)
            plot_updates.append(gr.update(value=frame if len(frame) else None,
                                          colors_in_legend=list(curve_series(snap, stage)),
                                          visible=stage != "vocoder" or len(frame) > 0))
        running = snap.running
        # the status line holds one message: "Training…"/"Cancelling…" give way to the job's own end
        return (gr.skip() if running else "", status_markdown(snap), *plot_updates, health_markdown(snap),
                snap.previews[-1] if snap.previews else gr.skip(), "\n".join(snap.log[-60:]),
                gr.update(interactive=not running), gr.update(interactive=not running),
                gr.update(interactive=running), snap.version)

    train_btn.click(guarded(do_train, 1, 0), form_inputs, [message])
    resume_btn.click(guarded(do_resume, 1, 0), form_inputs, [message])
    cancel_btn.click(do_cancel, None, [message])
    voc_btn.click(guarded(do_vocoder, 1, 0), [voc_model, voc_train_minutes, voc_steps, voc_resume], [message])
    fit_btn.click(guarded(lambda m: start_fit_controls(state, m), 1, 0), [fit_model], [message])
    choose_btn.click(guarded(lambda m: start_choose_controls(state, m), 1, 0), [fit_model], [message])
    timer.tick(tick, [seen], view_outputs, show_progress="hidden")
    return {"dataset": dataset, "vocoder_model": voc_model, "fit_model": fit_model}
