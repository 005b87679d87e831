"""The Generate tab: a model, a :class:`~sda_engine.generate.request.GenerationRequest` built from the page, and the
result in a waveform player.

Generation runs in the app's generate worker (events stream to the page while it runs, Cancel stops it);
the chosen model stays loaded between clicks (:meth:`~sda_gradio.state.AppState.session`). Presets are
partial overrides of the request (``PresetStore.save(name, request.overrides())``); History's "use these
settings" fills this form through :func:`form_values`.

Forms: the page offers the forms the chosen model supports (:func:`form_choices`: ``auto`` is the model's own, a
phrase is not offered for a model of textures) and shows the tempo box only for phrases. A one-shot result of
several variations is a sample pack: a list of players (:func:`pack_html`) and a zip (:func:`write_pack_zip`).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sda_audio.errors import SdaError
from sda_engine import (
    CHANNELS,
    CONTROL_MODES,
    CONTROL_NAMES,
    DETAILS,
    MAX_SECONDS,
    VOCODERS,
    GenerationRequest,
)
from sda_gradio.state import AppState
from sda_gradio.ui import md_escape, players_html, seconds_text

FORMATS = ("wav", "flac", "mp3", "ogg")
RATES = (44100, 48000, 96000)
DEPTHS = (16, 24, 32)

FIELDS: tuple[str, ...] = ("duration", "seed", "variations", "form", "bpm", "temperature", "top_k", "top_p", "vocoder",
                           "control_mode", "detail",
                           "channels", "azimuth", "elevation", "dynamics", "format", "sample_rate", "bit_depth")
"""The request fields the form edits, in the order of its inputs (after the model)."""
FORM_FIELDS: tuple[str, ...] = (*FIELDS, "blend_model", "blend_weight", *CONTROL_NAMES)
"""Every input of the form: the fields, the blend partner and its weight, the eight musical sliders."""


def request_from_form(values: Sequence[Any]) -> GenerationRequest:
    """The request for the form's values (:data:`FORM_FIELDS` order); bad values raise a readable SdaError."""
    flat = dict(zip(FORM_FIELDS, values, strict=True))
    blend_model, blend_weight = flat.pop("blend_model"), flat.pop("blend_weight")
    controls = {name: float(flat.pop(name) or 0.0) for name in CONTROL_NAMES}
    fields: dict[str, Any] = {}
    for key, value in flat.items():
        if value is None or value == "":
            raise SdaError(f"{key.replace('_', ' ')} is empty", hint="fill it in (or reload the page for defaults)")
        fields[key] = value
    for key in ("seed", "variations", "top_k", "sample_rate", "bit_depth"):
        fields[key] = _whole(fields[key], key)
    fields["bpm"] = float(fields["bpm"])
    blend = ((str(blend_model), float(blend_weight or 0.0)),) if blend_model and (blend_weight or 0) > 0 else ()
    return GenerationRequest().replace(**fields, blend=blend,
                                       controls={k: v for k, v in controls.items() if v != 0.0})


def _whole(value: Any, name: str) -> int:
    number = float(value)
    if not number.is_integer():
        raise SdaError(f"{name.replace('_', ' ')} must be a whole number, not {value}")
    return int(number)


def form_values(request: GenerationRequest) -> list[Any]:
    """The form's values (:data:`FORM_FIELDS` order) for ``request`` (a preset or a history entry)."""
    flat = {"control_mode": request.control.control_mode, "detail": request.render.detail, **request.to_flat()}
    values: list[Any] = [flat[key] for key in FIELDS]
    blend = request.control.blend
    values += [blend[0][0], blend[0][1]] if blend else [None, 0.0]
    controls = dict(request.control.controls)
    return values + [controls.get(name, 0.0) for name in CONTROL_NAMES]


def request_mode(flat: dict[str, Any]) -> str:
    """The control mode of a flat request (left out of it when it is the default)."""
    return str(flat.get("control_mode", "auto"))


def model_info(state: AppState, model: str | None) -> str:
    """One line about the chosen model: kind, data, vocoder."""
    from sda_engine import ModelLibrary

    if not model:
        return "Choose a model (train one on the Train tab first)."
    record = ModelLibrary(state.home, reconcile=False).get(model)
    kind = ("RVQ model (codes + prior): temperature, top-k and top-p apply" if record.kind == "rvq"
            else "VAE model (continuous latents): temperature, top-k and top-p do not apply")
    data = f"{record.n_files} files, {record.duration or 0:.0f} s" if record.n_files else "unknown data"
    vocoder = "has its own HiFi-GAN vocoder" if record.has_vocoder else "no vocoder of its own"
    return f"**{md_escape(model)}**: {kind}; trained on {data}; {vocoder}."


MODEL_FORMS = ("oneshot", "phrase", "texture")
FORM_WORDS: dict[str, str] = {
    "oneshot": "one-shots: a new sample pack in the character of yours",
    "phrase": "phrases: strokes placed in time with silence between them",
    "texture": "texture: a continuous sound",
}
"""What each form makes, in a musician's words."""
FORM_LABELS: dict[str, str] = {"oneshot": "one-shots", "phrase": "phrases", "texture": "texture"}


def model_form(state: AppState, model: str | None) -> dict[str, Any] | None:
    """The chosen model's ``form`` section (what its material was, detected at training), read from the model
    file's header only; ``None`` without a model or for a model trained before forms were detected."""
    from sda_engine import ModelLibrary, read_metadata

    if not model:
        return None
    return form_section(read_metadata(ModelLibrary(state.home, reconcile=False).get(model).path))


def form_section(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``form`` section of model metadata, when it names one of :data:`MODEL_FORMS`."""
    section = (metadata or {}).get("form")
    return section if isinstance(section, dict) and section.get("form") in MODEL_FORMS else None


def own_form(section: Mapping[str, Any] | None) -> str:
    """The form ``auto`` generates for a model (a model without a recorded form makes textures, as it always did)."""
    return str(section["form"]) if section else "texture"


def supported_forms(section: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The forms that make sense for a model: all three, except phrases for a model of textures (a drone has
    no strokes to place in time; the engine refuses it unless the form was forced at training)."""
    if section and section.get("form") == "texture" and not section.get("forced"):
        return ("oneshot", "texture")
    return MODEL_FORMS


def form_choices(section: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """``[(label, value), ...]`` for the form picker of a model: ``auto`` (named after the model's own form),
    then the forms it supports."""
    own = FORM_LABELS[own_form(section)]
    auto = f"auto (its own: {own})" if section else f"auto ({own}: no form recorded)"
    return [(auto, "auto"), *((FORM_LABELS[f], f) for f in supported_forms(section))]


def effective_form(section: Mapping[str, Any] | None, chosen: str | None) -> str:
    """The form a generation will take: ``chosen``, or the model's own for ``auto``."""
    return own_form(section) if not chosen or chosen == "auto" else chosen


def form_markdown(section: Mapping[str, Any] | None, chosen: str | None) -> str:
    """One line: what the chosen form makes, and what the model's material was."""
    form = effective_form(section, chosen)
    line = f"Makes {FORM_WORDS[form]}."
    if chosen == "phrase" and "phrase" not in supported_forms(section):
        line = "Phrases do not suit this model: its material is continuous sound with no strokes to place in time."
    if section:
        what = md_escape(section.get("message") or FORM_LABELS[own_form(section)])
        line += f" Its material: {what}."
    else:
        line += " This model was trained before sda detected forms, so it makes textures on its own."
    if form == "oneshot":
        line += " Variations = how many one-shots the pack holds."
    return line


def form_update(section: Mapping[str, Any] | None, current: str | None) -> tuple[list[tuple[str, str]], str]:
    """The picker's choices for a model and the value it keeps (``current`` where the model supports it, else
    ``auto``)."""
    choices = form_choices(section)
    values = {value for _, value in choices}
    return choices, current if current in values else "auto"


CONTROL_MEANINGS: dict[str, str] = {
    "brightness": "darker ↔ brighter tone",
    "warmth": "thinner ↔ warmer, fuller low end",
    "roughness": "smoother ↔ rougher, grittier texture",
    "tension": "calmer, consonant ↔ tense, dissonant",
    "rhythmic": "flowing ↔ sharper attacks and rhythm",
    "pulse": "wandering ↔ a clearer, accented beat",
    "density": "sparser ↔ busier, more events",
    "reverb": "drier ↔ more reverberant, farther away",
}
"""What each musical slider does, in plain words (its -1 end ↔ its +1 end)."""
HOW = {"latent": "by the model", "steered": "by the model", "searched": "by the model", "assisted": "as an effect"}
"""How the engine realises a control, in a musician's words: the model makes the change itself, or an audio
effect does it afterwards."""
NOT_FITTED = "not set up yet (Train tab: fit controls)"


def control_methods(state: AppState, model: str | None) -> dict[str, str]:
    """Each musical slider's one-line meaning and how the chosen model realises it: "by the model" or "as an
    effect" (or that its controls are not set up yet). Density is always steered by the engine (sampling and a
    gate); the others need the model's fitted control section (the model is loaded, and kept warm, to read it)."""
    from sda_engine import ControlMap

    if not model:
        return {name: CONTROL_MEANINGS.get(name, "") for name in CONTROL_NAMES}
    with state.using(model) as session:
        cmap = ControlMap.from_bundle(session.bundle)
    methods = {}
    for name in CONTROL_NAMES:
        if name == "density":
            how = HOW["steered"]
        elif cmap is None:
            how = NOT_FITTED
        else:
            raw = cmap.method(name)
            how = HOW.get(raw, "off for this model" if raw == "off" else raw)
        methods[name] = f"{CONTROL_MEANINGS.get(name, '')} · {how}"
    return methods


def start_generation(state: AppState, model: str, request: GenerationRequest) -> None:
    """Start generating in the worker (the model is opened there, or reused when warm); files get fresh names
    in the history folder."""
    from sda_engine import generate_files

    if not model:
        raise SdaError("choose a model first", hint="train one on the Train tab, or import one on the Library tab")

    def job(on_event: Any, cancel: Any) -> Any:
        with state.using(model) as session:
            return generate_files(session, request, on_event=on_event, cancel=cancel)

    state.generate.start(f"generating {request.variations} x {request.duration:g} s with '{model}'", job)


def progress_markdown(state: AppState) -> str:
    snap = state.generate.snapshot()
    parts = []
    for job, stage in snap.stages.items():
        if stage.total:
            parts.append(f"{job.split('.')[-1]} {stage.step}/{stage.total}")
    head = "Cancelling" if any(line.startswith("cancelling") for line in snap.log) else md_escape(snap.title)
    return f"**{head}…** {seconds_text(snap.elapsed)}" + (f" ({', '.join(parts)})" if parts else "")


def result_markdown(results: Sequence[Any]) -> str:
    if not results:
        return "Nothing was generated."
    first = results[0]
    lines = [f"**Generated {len(results)} file(s)** with '{md_escape(first.model)}'. "
             f"Vocoder: **{md_escape(first.vocoder)}**, because {md_escape(first.vocoder_reason)}."]
    form = result_form(results)
    if form == "oneshot":
        notes = [r.notes.get("form") or {} for r in results]
        passed = sum(1 for n in notes if n.get("passed"))
        varied = all(n.get("method") == "variation" for n in notes)
        lines.append(f"A sample pack of {len(results)} one-shot(s)"
                     + (", each one of your own hits reshaped towards a neighbour" if varied else "")
                     + f": {passed} of {len(results)} passed every "
                     "one-shot check (a clear attack, one event, a decay to quiet)."
                     + (" Download them all as a zip below." if len(results) > 1 else ""))
    elif form == "phrase":
        lines.append("A phrase: strokes placed in time, with silence between them.")
    if isinstance(first.notes.get("detail"), str):
        lines.append(f"With {md_escape(first.notes['detail'])} (Advanced: 'Detail of your recordings').")
    if first.blend_method:
        lines.append(f"Blended by {'one shared latent path' if first.blend_method == 'latent' else 'mixing audio'}.")
    lines += [f"- seed {r.seed}: {md_escape(r.path.name)} ({r.duration:.2f} s, history #{r.history_id})"
              + _between(r) for r in results]
    return "\n".join(lines)


def _between(result: Any) -> str:
    """", your A towards your B" for a one-shot made as a variation of two of the user's hits."""
    form = result.notes.get("form") or {}
    if form.get("method") != "variation" or len(form.get("between") or []) != 2:
        return ""
    a, b = form["between"]
    return f", your {md_escape(a)} towards your {md_escape(b)}"


def result_form(results: Sequence[Any]) -> str | None:
    """The form the results were made in (from their notes), ``None`` when they do not say (a texture)."""
    for r in results:
        note = (getattr(r, "notes", None) or {}).get("form")
        if isinstance(note, dict) and note.get("form"):
            return str(note["form"])
    return None


def is_pack(results: Sequence[Any]) -> bool:
    """Several one-shots: shown as a sample pack (a list of players and a zip)."""
    return len(results) > 1 and result_form(results) == "oneshot"


def _safe_stem(text: str) -> str:
    return re.sub(r"[^\w.-]+", "-", text).strip(".-") or "pack"


def pack_name(model: str, seed: int | None) -> str:
    """The pack's name: ``<model>_pack_s<first seed>`` (the zip and the names inside it start with the model's)."""
    return _safe_stem(f"{model}_pack" + (f"_s{seed}" if seed is not None else ""))


def pack_entry_names(model: str, paths: Sequence[str | Path]) -> list[str]:
    """The names of the one-shots inside the zip, as a sampler loads a folder: ``<model>_001.wav`` ..."""
    stem = _safe_stem(model)
    return [f"{stem}_{i + 1:03d}{Path(p).suffix.lower()}" for i, p in enumerate(paths)]


def write_pack_zip(paths: Sequence[str | Path], folder: str | Path, name: str, model: str) -> Path:
    """Zip the one-shots ``paths`` as ``folder/<name>.zip`` (entries named by :func:`pack_entry_names`).

    Written to a temporary file in ``folder`` and moved into place, so the zip is never seen half-written; a
    name already taken (an earlier pack) steps on to ``<name>-2.zip``, ``-3`` ..., never replacing it."""
    if not paths:
        raise SdaError("there is nothing to put in a pack", hint="generate some one-shots first")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}-", suffix=".zip.tmp", dir=out)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for source, entry in zip(paths, pack_entry_names(model, paths), strict=True):
                zf.write(source, arcname=entry)
        for n in range(1, 10_000):
            target = out / (f"{name}.zip" if n == 1 else f"{name}-{n}.zip")
            try:
                os.link(tmp, target)  # refused when the name is taken: two packs never replace each other
                return target
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system: a plain atomic move
                if target.exists():
                    continue
                os.replace(tmp, target)
                return target
        raise SdaError(f"no free name for the pack {name}.zip", path=out)
    finally:
        tmp.unlink(missing_ok=True)


def pack_html(model: str, paths: Sequence[str | Path]) -> str:
    """The pack as a list of players, each named as in the zip."""
    names = pack_entry_names(model, paths)
    return players_html([(name, [("", p)]) for name, p in zip(names, paths, strict=True)], "sda-players sda-pack")


def pack_outputs(state: AppState, results: Sequence[Any]) -> tuple[str, str | None]:
    """``(players html, zip path)`` for a pack of results, or ``("", None)`` when the results are no pack."""
    if not is_pack(results):
        return "", None
    model = str(results[0].model)
    paths = [str(r.path) for r in results]
    zipped = write_pack_zip(paths, state.home.root / "exports" / "packs", pack_name(model, results[0].seed), model)
    return pack_html(model, paths), str(zipped)


def run_generation(state: AppState, model: str, values: Sequence[Any], poll: float = 0.25
                   ) -> Iterator[tuple[str, Any, list[str]]]:
    """Generate and stream ``(status markdown, audio path or None, [all paths])`` until it is done."""
    request = request_from_form(values)
    start_generation(state, model, request)
    while state.generate.snapshot().running:
        yield progress_markdown(state), None, []
        time.sleep(poll)
    snap = state.generate.snapshot()
    if snap.status != "done":
        yield f"**{'Cancelled' if snap.status == 'cancelled' else 'Error'}:** {md_escape(snap.error)}", None, []
        return
    results = list(snap.result or [])
    paths = [str(r.path) for r in results]
    yield result_markdown(results), (paths[0] if paths else None), paths


def save_preset(state: AppState, name: str, model: str | None, values: Sequence[Any], per_model: bool,
                overwrite: bool) -> str:
    from sda_engine import PresetStore

    request = request_from_form(values)
    preset = PresetStore(state.home).save((name or "").strip(), request.overrides(),
                                          model=model if per_model and model else None, overwrite=overwrite)
    changed = ", ".join(sorted(preset.params)) or "nothing (all defaults)"
    return f"Saved preset **{md_escape(preset.name)}** ({md_escape(preset.scope)}): {md_escape(changed)}."


def preset_names(state: AppState, model: str | None) -> list[str]:
    from sda_engine import PresetStore

    return sorted({p.name for p in PresetStore(state.home).list(model or None)})


def load_preset(state: AppState, name: str, model: str | None) -> list[Any]:
    from sda_engine import PresetStore

    if not name:
        raise SdaError("choose a preset to load")
    return form_values(PresetStore(state.home).show(name, model or None).request())


def build(state: AppState) -> dict[str, Any]:
    """The tab's components (inside an open ``gr.Tab``); returns what other tabs fill in."""
    import gradio as gr

    from sda_gradio.ui import guarded, guarded_stream

    defaults = GenerationRequest().to_flat()
    models = state.model_names()
    c: dict[str, Any] = {}
    section = _form_or_none(state, models[0] if models else None)
    # one row holds what to make (model, form, length, how many, seed): the eight sliders and Generate stay on the
    # first screen
    with gr.Row(equal_height=True):
        model = gr.Dropdown(label="Model", choices=models, value=models[0] if models else None,
                            elem_id="gen-model", scale=3, min_width=160)
        c["form"] = gr.Dropdown(form_choices(section), value=defaults["form"], label="Form: what to make",
                                elem_id="gen-form", scale=3, min_width=180)
        c["bpm"] = gr.Number(value=defaults["bpm"], label="Tempo (BPM; 0 = its own)", minimum=0,
                             maximum=400, elem_id="gen-bpm", scale=1, min_width=110,
                             visible=effective_form(section, defaults["form"]) == "phrase")
        c["duration"] = gr.Number(value=defaults["duration"], label=f"Duration (seconds, up to {MAX_SECONDS:g})",
                                  elem_id="gen-duration", scale=1, min_width=120)
        c["variations"] = gr.Slider(1, 16, value=defaults["variations"], step=1, label="Variations",
                                    elem_id="gen-variations", scale=1, min_width=120)
        c["seed"] = gr.Number(value=defaults["seed"], label="Seed (same seed, same sound)", precision=0,
                              elem_id="gen-seed", scale=1, min_width=110)
        refresh = gr.Button("Refresh list", elem_id="gen-refresh", scale=0, min_width=90)
    info = gr.Markdown(elem_id="gen-model-info")
    form_about = gr.Markdown(form_markdown(section, defaults["form"]) if models else "", elem_id="gen-form-about",
                             elem_classes=["sda-note"])
    with gr.Group(elem_id="gen-controls"):
        for row in (CONTROL_NAMES[:4], CONTROL_NAMES[4:]):
            with gr.Row():
                for name in row:
                    c[name] = gr.Slider(-1.0, 1.0, value=0.0, step=0.05, label=name, elem_id=f"gen-control-{name}",
                                        info=CONTROL_MEANINGS.get(name, ""), min_width=140)
    gr.Markdown("Sliders: -1 .. +1, 0 = the model's own character. *By the model*: the model itself makes the "
                "change; *as an effect*: an audio effect does it afterwards.", elem_classes=["sda-note"])
    with gr.Row():
        run = gr.Button("Generate", variant="primary", elem_id="gen-run", scale=3)
        cancel = gr.Button("Cancel", variant="stop", elem_id="gen-cancel", scale=1)
    status = gr.Markdown(elem_id="gen-status")
    audio = gr.Audio(label="Result", type="filepath", interactive=False, elem_id="gen-audio")
    variation = gr.Dropdown(label="Play variation", choices=[], elem_id="gen-variation")
    pack = gr.HTML(elem_id="gen-pack")
    pack_zip = gr.File(label="The sample pack as a zip", interactive=False, visible=False, height=80,
                       elem_id="gen-pack-zip")
    with gr.Accordion("Advanced", open=False, elem_id="gen-advanced"):
        with gr.Row():
            c["channels"] = gr.Radio(list(CHANNELS), value=defaults["channels"], label="Channels",
                                     info="mono, stereo, or binaural (3-D sound for headphones)", elem_id="gen-channels")
            c["azimuth"] = gr.Slider(-180, 180, value=defaults["azimuth"], step=5, label="Azimuth (binaural, °)",
                                     info="where the sound sits around you: 0 ahead, 90 right", elem_id="gen-azimuth")
            c["elevation"] = gr.Slider(-90, 90, value=defaults["elevation"], step=5,
                                       label="Elevation (binaural, °)", info="below (-) or above (+) you",
                                       elem_id="gen-elevation")
            c["dynamics"] = gr.Slider(0.0, 1.0, value=defaults["dynamics"], step=0.05, label="Dynamics",
                                      info="0 = as the model makes it, 1 = loudness moves like the training audio",
                                      elem_id="gen-dynamics")
            c["detail"] = gr.Dropdown(list(DETAILS), value=str(defaults.get("detail", "auto")),
                                      label="Detail of your recordings",
                                      info="auto: the fine detail the model blurs (partials, grain) is put back from "
                                           "your own recordings; none: the model's own, softer sound",
                                      elem_id="gen-detail")
        with gr.Row():
            c["temperature"] = gr.Slider(0.0, 2.0, value=defaults["temperature"], step=0.05, label="Temperature",
                                         info="lower = safer and more repetitive, higher = wilder (RVQ models)",
                                         elem_id="gen-temperature")
            c["top_k"] = gr.Number(value=defaults["top_k"], label="Top-k (0 = off)", precision=0,
                                   info="only pick among the k likeliest snippets (RVQ models)", elem_id="gen-top-k")
            c["top_p"] = gr.Slider(0.05, 1.0, value=defaults["top_p"], step=0.05, label="Top-p (1 = off)",
                                   info="only pick among the likeliest snippets that add up to p", elem_id="gen-top-p")
            c["vocoder"] = gr.Dropdown(list(VOCODERS), value=defaults["vocoder"], label="Vocoder",
                                       info="turns the model's sound into audio; auto picks the best and says why",
                                       elem_id="gen-vocoder")
            c["control_mode"] = gr.Dropdown(list(CONTROL_MODES), value=request_mode(defaults), label="Controls realised",
                                            info="auto: as fitted; searched: the model finds its own sound for each "
                                                 "slider; latent: fitted directions; assist: labelled DSP effects",
                                            elem_id="gen-control-mode")
        with gr.Row():
            c["format"] = gr.Dropdown(list(FORMATS), value=defaults["format"], label="File format",
                                      info="wav/flac keep everything; mp3/ogg are smaller", elem_id="gen-format")
            c["sample_rate"] = gr.Dropdown(list(RATES), value=defaults["sample_rate"], label="Sample rate (Hz)",
                                           info="samples per second of the file", elem_id="gen-rate")
            c["bit_depth"] = gr.Dropdown(list(DEPTHS), value=defaults["bit_depth"], label="Bit depth",
                                         info="16 = CD, 24 = studio, 32 = float", elem_id="gen-depth")
    with gr.Accordion("Blend with a second model", open=False):
        with gr.Row():
            c["blend_model"] = gr.Dropdown(label="Second model", choices=models, value=None, elem_id="gen-blend-model")
            c["blend_weight"] = gr.Slider(0.0, 1.0, value=0.0, step=0.05, label="Its weight (0 = off)",
                                          elem_id="gen-blend-weight")
    with gr.Accordion("Presets", open=True):
        with gr.Row():
            preset_pick = gr.Dropdown(label="Preset", choices=preset_names(state, None), elem_id="preset-pick")
            load_btn = gr.Button("Load preset", elem_id="preset-load")
        with gr.Row():
            preset_name = gr.Textbox(label="Save these settings as", elem_id="preset-name")
            per_model = gr.Checkbox(label="For this model only", value=False, elem_id="preset-per-model")
            preset_overwrite = gr.Checkbox(label="Replace an existing one of the same name", value=False,
                                           elem_id="preset-overwrite")
            save_btn = gr.Button("Save preset", elem_id="preset-save")
        preset_status = gr.Markdown(elem_id="preset-status")

    form = [c[key] for key in FORM_FIELDS]

    def on_model(name: str | None, chosen: str | None = None) -> tuple[Any, ...]:
        methods = control_methods(state, name)
        infos = [gr.update(info=methods.get(n, "")) for n in CONTROL_NAMES]
        form_section_ = model_form(state, name)
        choices, value = form_update(form_section_, chosen)
        return (model_info(state, name), gr.update(choices=preset_names(state, name)), *infos,
                gr.update(choices=choices, value=value), *form_shown(form_section_, value))

    def form_shown(form_section_: dict[str, Any] | None, chosen: str | None) -> tuple[Any, Any]:
        phrase = effective_form(form_section_, chosen) == "phrase"
        return gr.update(visible=phrase), form_markdown(form_section_, chosen)

    def on_form(name: str | None, chosen: str | None) -> tuple[Any, ...]:
        return (*form_shown(model_form(state, name), chosen),)

    def do_refresh(current: str | None) -> tuple[Any, ...]:
        names = state.model_names()
        value = current if current in names else (names[0] if names else None)
        return gr.update(choices=names, value=value), gr.update(choices=names)

    def do_run(name: str, *values: Any) -> Iterator[tuple[Any, ...]]:
        for text, _, paths in run_generation(state, name, values):
            if not paths:
                yield text, gr.skip()
                continue
            snap = state.generate.snapshot()
            results = list(snap.result or [])
            if [str(r.path) for r in results] != paths:
                results = []
            try:
                html_, zipped = pack_outputs(state, results)
            except Exception as exc:  # the files are there: say why the zip is missing, show the players
                from sda_gradio.messages import error_text

                html_, zipped = "", None
                text += f"\n\nThe zip could not be made: {md_escape(error_text(exc))}"
            yield text, {"paths": paths, "pack": html_, "zip": zipped}

    def show_result(result: dict[str, Any] | list[Any]) -> tuple[Any, ...]:
        # set after the stream ends: an Audio fed by a generator would become a streaming player
        paths = result.get("paths", []) if isinstance(result, dict) else []
        if not paths:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        assert isinstance(result, dict)
        zipped = result.get("zip")
        return (paths[0], gr.update(choices=[(Path(p).name, p) for p in paths], value=paths[0]),
                result.get("pack") or "", gr.update(value=zipped, visible=bool(zipped)))

    def do_cancel() -> str:
        return "**Cancelling…**" if state.generate.cancel() else "Nothing is being generated."

    def do_save(name: str, model_name: str | None, flag: bool, replace: bool, *values: Any) -> tuple[Any, ...]:
        text = save_preset(state, name, model_name, values, flag, replace)
        return text, gr.update(choices=preset_names(state, model_name), value=(name or "").strip())

    def do_load(name: str, model_name: str | None) -> tuple[Any, ...]:
        values = load_preset(state, name, model_name)
        return (f"Loaded preset **{md_escape(name)}**.", *values)

    control_sliders = [c[name] for name in CONTROL_NAMES]
    model_outputs = [info, preset_pick, *control_sliders, c["form"], c["bpm"], form_about]
    model.change(guarded(on_model, len(model_outputs), 0), [model, c["form"]], model_outputs)
    c["form"].change(guarded(on_form, 2, 1), [model, c["form"]], [c["bpm"], form_about])
    refresh.click(guarded(do_refresh, 2, 0), [model], [model, c["blend_model"]])
    results = gr.State([])
    run.click(guarded_stream(do_run, 2, 0), [model, *form], [status, results]).then(
        show_result, [results], [audio, variation, pack, pack_zip])
    cancel.click(do_cancel, None, [status])
    variation.change(lambda p: p, [variation], [audio])
    save_btn.click(guarded(do_save, 2, 0), [preset_name, model, per_model, preset_overwrite, *form],
                   [preset_status, preset_pick])
    load_btn.click(guarded(do_load, 1 + len(form), 0), [preset_pick, model], [preset_status, *form])
    return {"model": model, "form": form, "status": status, "info": info, "blend_model": c["blend_model"],
            "refresh": do_refresh, "on_model": guarded(on_model, len(model_outputs), 0), "model_outputs": model_outputs,
            "model_inputs": [model, c["form"]]}


def _form_or_none(state: AppState, model: str | None) -> dict[str, Any] | None:
    """:func:`model_form`, or ``None`` when the model cannot be read (the page still builds; choosing the model
    again says why)."""
    try:
        return model_form(state, model)
    except Exception:
        return None
