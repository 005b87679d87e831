"""The Library tab: the models you have (browse, search, tag, rename, delete, import, export), and how each
hears your recordings ("Hear it as the model does": :func:`run_reconstruction`, the engine's
``reconstruct_files`` in the app's generate worker, each reconstruction beside its original's player).

Everything goes through :class:`sda_engine.ModelLibrary`, whose catalogue is SQLite (WAL) with
atomic file moves, so two browser tabs acting at once cannot leave it half-written.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sda_audio.errors import SdaError
from sda_gradio.state import AppState
from sda_gradio.ui import md_escape, players_html, seconds_text

COLUMNS = ["name", "kind", "files", "seconds", "own vocoder", "tags", "description", "created"]


def _library(state: AppState) -> Any:
    from sda_engine import ModelLibrary

    return ModelLibrary(state.home)


BROKEN = "BROKEN"


def broken_files(lib: Any) -> dict[str, str]:
    """``{file name: why it cannot be used}`` for the model files in the library that fail validation (the
    library's reconcile checks every file it (re)catalogues with the model-file check)."""
    return dict(getattr(lib.last_reconcile, "broken", None) or {})


def table(state: AppState, query: str = "") -> list[list[Any]]:
    """Rows for the models table (:data:`COLUMNS`), filtered by ``query`` (every word must match). A model file
    that fails validation is listed as BROKEN with the reason, never hidden, never failing the listing."""
    lib = _library(state)
    broken = broken_files(lib)
    records = lib.search(query) if query and query.strip() else lib.list_models()
    rows = []
    for r in records:
        why = broken.pop(Path(r.path).name, None)
        rows.append([r.name, BROKEN if why else (r.kind or "?"), r.n_files or 0, round(r.duration or 0.0, 1),
                     "yes" if r.has_vocoder else "no", ", ".join(r.tags), why or r.description,
                     (r.created or "")[:19].replace("T", " ")])
    words = (query or "").lower().split()
    for file_name, why in sorted(broken.items()):
        if all(w in f"{file_name} {why}".lower() for w in words):
            rows.append([file_name, BROKEN, 0, 0.0, "no", "", why, ""])
    return rows


def broken_markdown(state: AppState) -> str:
    """A note naming the broken model files (empty when there are none)."""
    broken = broken_files(_library(state))
    if not broken:
        return ""
    lines = [f"**{len(broken)} model file(s) cannot be used** (listed as {BROKEN}; the others work):"]
    lines += [f"- {md_escape(name)}: {md_escape(why)}" for name, why in sorted(broken.items())]
    lines.append("\nReplace such a file with a good copy (Import below), or delete it from the models folder.")
    return "\n".join(lines)


def details(state: AppState, name: str) -> str:
    if not name:
        return "Choose a model."
    r = _library(state).get(name)
    size = f"{(r.size_bytes or 0) / 1e6:.1f} MB"
    vocoder = "its own HiFi-GAN vocoder" if r.has_vocoder else "no vocoder of its own (corpus/BigVGAN are used)"
    controls = "musical controls fitted" if r.has_control else "musical controls not fitted yet"
    return (f"**{md_escape(r.name)}**: {r.kind} model, {size}, {vocoder}, {controls}; trained on dataset "
            f"'{md_escape(r.dataset_name or '?')}' ({r.n_files or 0} files, {r.duration or 0:.0f} s), "
            f"{_started(r.path)}. Tags: {md_escape(', '.join(r.tags) or 'none')}. File: {md_escape(r.path)}")


def _started(path: Any) -> str:
    """How the model began (sda's base model, which; or from scratch)."""
    from sda_engine import describe_start, read_metadata

    try:
        return md_escape(describe_start(read_metadata(path)))
    except SdaError:
        return "start unknown (the file cannot be read)"


def _need(name: str) -> str:
    if not name:
        raise SdaError("choose a model first", hint="click a row of the table or pick one from the list")
    return name


def set_tags(state: AppState, name: str, add: str, remove: str) -> str:
    split = lambda text: [t.strip() for t in (text or "").split(",") if t.strip()]  # noqa: E731
    record = _library(state).tag(_need(name), add=split(add), remove=split(remove))
    return f"Tags of **{md_escape(name)}**: {md_escape(', '.join(record.tags) or 'none')}."


def describe(state: AppState, name: str, text: str) -> str:
    _library(state).set_description(_need(name), text or "")
    return f"Description of **{md_escape(name)}** saved."


def rename(state: AppState, name: str, new: str) -> str:
    record = _library(state).rename(_need(name), (new or "").strip())
    state.forget(name)
    return f"Renamed **{md_escape(name)}** to **{md_escape(record.name)}** (its presets and history follow it)."


def delete(state: AppState, name: str, confirmed: bool) -> str:
    if not confirmed:
        raise SdaError(f"'{name}' was not deleted", hint="tick 'Yes, delete it' first: deleting cannot be undone")
    for runner in (state.train, state.generate):
        snap = runner.snapshot()
        if snap.running and f"'{name}'" in snap.title:
            raise SdaError(f"'{name}' is in use by a running job", hint="wait for it or cancel it, then delete")
    _library(state).delete(_need(name))
    state.forget(name)
    return f"Deleted **{md_escape(name)}** (its file, corpus index and checkpoints)."


def import_files(state: AppState, files: Sequence[Any] | None, name: str, overwrite: bool) -> str:
    """Import an uploaded ``.sda`` file (with its ``.corpus.safetensors`` companion when uploaded too)."""
    from sda_gradio.tab_data import _file_path

    paths = [Path(_file_path(f)) for f in (files or [])]
    models = [p for p in paths if p.name.endswith(".sda")]
    if len(models) != 1:
        raise SdaError("upload exactly one .sda model file", hint="a .corpus.safetensors file may come with it")
    with tempfile.TemporaryDirectory(prefix="sda-import-") as tmp:
        for p in paths:  # side by side, so the library finds the companion corpus index
            shutil.copyfile(p, Path(tmp) / p.name)
        record = _library(state).import_model(Path(tmp) / models[0].name, name=(name or "").strip() or None,
                                              overwrite=overwrite)
    state.forget(record.name)
    return f"Imported **{md_escape(record.name)}** ({record.kind})."


def export(state: AppState, name: str) -> tuple[str, list[str]]:
    """Copy a model (and its corpus index) to the app's exports folder; returns the files to download."""
    folder = state.home.root / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    target = _library(state).export_model(_need(name), folder / f"{name}.sda", overwrite=True)
    files = [str(target)] + [str(p) for p in folder.glob(f"{name}.corpus.safetensors")]
    return f"Exported **{md_escape(name)}**: download below (copied to {md_escape(folder)}).", files


# -- hear what the model knows ---------------------------------------------------------------------
HEAR_LABEL = "Hear it as the model does"
HEAR_ABOUT = ("Play your recordings as the model hears them: each one goes into the model and comes back out. "
              "What the model loses here, it cannot make when it generates, so listen before you generate.")


def training_files(state: AppState, name: str | None) -> list[tuple[str, str]]:
    """``[(file name, path), ...]`` of the recordings model ``name`` was trained on that are still on disk
    (read from the model file's header; a model trained elsewhere may list none)."""
    from sda_engine import read_metadata

    if not name:
        return []
    meta = read_metadata(_library(state).get(name).path)
    dataset = meta.get("dataset")
    listed = dataset.get("files") if isinstance(dataset, dict) else None
    paths = [Path(f) for f in (listed or []) if isinstance(f, str)]
    present = sorted((p for p in paths if p.is_file()), key=lambda p: p.name.lower())
    stems = [p.stem for p in present]
    return [(p.name if stems.count(p.stem) == 1 else f"{p.parent.name}/{p.name}", str(p)) for p in present]


def reconstruction_folder(state: AppState, name: str) -> Path:
    """A new folder for one reconstruction run: ``<home>/reconstructions/<model>/<date-time>`` (``-2`` ... when
    taken), inside the home, so the page can play what is written there."""
    base = state.home.root / "reconstructions" / name / time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        folder = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise SdaError("cannot find a free folder for the reconstructions", path=base.parent)


def _sources(state: AppState, picked: Sequence[str] | None, uploaded: Sequence[Any] | None,
             folder: Path) -> list[Path]:
    """The recordings to reconstruct: the picked training files as they are, the uploaded ones copied into
    ``folder/originals`` (the upload's copy is temporary, and the page plays files of the home)."""
    from sda_gradio.tab_data import _file_path

    sources = [Path(p) for p in (picked or []) if p]
    ups = [Path(_file_path(f)) for f in (uploaded or [])]
    if ups:
        originals = folder / "originals"
        originals.mkdir(parents=True, exist_ok=True)
        for up in ups:
            target = originals / up.name
            if target.exists():
                raise SdaError(f"two uploaded recordings are both called {up.name}",
                               hint="upload them one at a time, or rename one")
            shutil.copyfile(up, target)
            sources.append(target)
    if not sources:
        raise SdaError("choose some recordings to hear", hint="pick some of the model's training files, or upload "
                                                              "recordings of your own")
    return sources


def _playable(state: AppState, source: Path, folder: Path) -> Path:
    """``source``, or a copy of it in ``folder/originals`` when it lies outside the home (the page plays files of
    the home only)."""
    root = state.home.root.resolve()
    if source.resolve().is_relative_to(root):
        return source
    originals = folder / "originals"
    originals.mkdir(parents=True, exist_ok=True)
    copy = originals / source.name
    if not copy.exists():
        shutil.copyfile(source, copy)
    return copy


def start_reconstruction(state: AppState, name: str, sources: Sequence[Path], folder: Path) -> None:
    """Reconstruct ``sources`` with model ``name`` into ``folder`` in the app's generate worker."""
    from sda_engine import reconstruct_files

    def job(on_event: Any, cancel: Any) -> Any:
        with state.using(name) as session:
            return reconstruct_files(session, list(sources), folder, on_event=on_event, cancel=cancel)

    state.generate.start(f"reconstructing {len(sources)} recording(s) with '{name}'", job)


def reconstruction_html(pairs: Sequence[tuple[str | Path, str | Path]]) -> str:
    """One row per recording, named after the original: its original's player, then the model's version."""
    return players_html([(Path(original).name, [("original", original), ("as the model hears it", made)])
                         for original, made in pairs], "sda-players sda-recon")


def run_reconstruction(state: AppState, name: str | None, picked: Sequence[str] | None,
                       uploaded: Sequence[Any] | None, poll: float = 0.25) -> Iterator[tuple[str, str]]:
    """Reconstruct and stream ``(status markdown, players html)`` until it is done."""
    model = _need(name or "")
    folder = reconstruction_folder(state, model)
    try:
        sources = _sources(state, picked, uploaded, folder)
        start_reconstruction(state, model, sources, folder)
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    while state.generate.snapshot().running:
        snap = state.generate.snapshot()
        stage = snap.stages.get("reconstruct")
        done = f" ({stage.step}/{stage.total} done)" if stage and stage.total else ""
        yield f"**Listening with '{md_escape(model)}'…** {seconds_text(snap.elapsed)}{done}", ""
        time.sleep(poll)
    snap = state.generate.snapshot()
    if snap.status != "done":
        yield f"**{'Cancelled' if snap.status == 'cancelled' else 'Error'}:** {md_escape(snap.error)}", ""
        return
    results = list(snap.result or [])
    pairs = [(_playable(state, source, folder), result.path) for source, result in zip(sources, results, strict=True)]
    vocoder = (f" Vocoder: **{md_escape(results[0].vocoder)}**, because {md_escape(results[0].vocoder_reason)}."
               if results else "")
    text = (f"**{len(results)} recording(s) as '{md_escape(model)}' hears them**, each under its original "
            f"(files in {md_escape(folder)}).{vocoder}")
    yield text, reconstruction_html(pairs)


def build(state: AppState) -> dict[str, Any]:
    import gradio as gr

    from sda_gradio.ui import guarded, guarded_stream

    with gr.Row():
        search = gr.Textbox(label="Search (name, tags, description, dataset)", elem_id="lib-search", scale=3)
        refresh = gr.Button("Refresh", elem_id="lib-refresh", scale=0)
    grid = gr.Dataframe(value=table(state), headers=COLUMNS, interactive=False, elem_id="lib-table", wrap=True)
    with gr.Row():
        pick = gr.Dropdown(label="Model", choices=state.model_names(), elem_id="lib-model")
    info = gr.Markdown(broken_markdown(state), elem_id="lib-info")
    status = gr.Markdown(elem_id="lib-status")
    with gr.Accordion("Hear what the model knows", open=True, elem_id="lib-hear"):
        gr.Markdown(HEAR_ABOUT, elem_classes=["sda-note"])
        with gr.Row():
            hear_files = gr.Dropdown(label="Its training files", multiselect=True, choices=[], scale=2,
                                     elem_id="lib-recon-files")
            hear_upload = gr.File(label="…or other recordings", file_count="multiple", height=120, scale=1,
                                  elem_id="lib-recon-upload")
        with gr.Row():
            hear_btn = gr.Button(HEAR_LABEL, variant="primary", elem_id="lib-recon-run", scale=3)
            hear_cancel = gr.Button("Cancel", variant="stop", elem_id="lib-recon-cancel", scale=1)
        hear_status = gr.Markdown(elem_id="lib-recon-status")
        hear_players = gr.HTML(elem_id="lib-recon-players")
    with gr.Row():
        with gr.Column():
            tags_add = gr.Textbox(label="Add tags (comma-separated)", elem_id="lib-tags-add")
            tags_remove = gr.Textbox(label="Remove tags", elem_id="lib-tags-remove")
            tag_btn = gr.Button("Update tags", elem_id="lib-tag")
            desc = gr.Textbox(label="Description", elem_id="lib-desc")
            desc_btn = gr.Button("Save description", elem_id="lib-desc-save")
        with gr.Column():
            new_name = gr.Textbox(label="New name", elem_id="lib-new-name")
            rename_btn = gr.Button("Rename", elem_id="lib-rename")
            confirm = gr.Checkbox(label="Yes, delete it", value=False, elem_id="lib-confirm")
            delete_btn = gr.Button("Delete", variant="stop", elem_id="lib-delete")
        with gr.Column():
            upload = gr.File(label="Import a .sda file", file_count="multiple", height=140, elem_id="lib-upload")
            import_name = gr.Textbox(label="Name in the library (empty = from the file)", elem_id="lib-import-name")
            import_overwrite = gr.Checkbox(label="Replace an existing one of the same name", value=False,
                                           elem_id="lib-import-overwrite")
            import_btn = gr.Button("Import", elem_id="lib-import")
            export_btn = gr.Button("Export the chosen model", elem_id="lib-export")
            download = gr.File(label="Exported files", interactive=False, height=120, elem_id="lib-download")

    def redraw(query: str, current: str | None) -> tuple[Any, ...]:
        names = state.model_names()
        value = current if current in names else (names[0] if names else None)
        about = details(state, value or "")
        note = broken_markdown(state)
        return table(state, query), gr.update(choices=names, value=value), about + ("\n\n" + note if note else "")

    def after(fn: Any) -> Any:
        def run(query: str, current: str | None, *args: Any) -> tuple[Any, ...]:
            text = fn(current, *args)
            grid_rows, choices, about = redraw(query, current)
            return text, grid_rows, choices, about
        return run

    def select_row(rows: Any, evt: Any) -> Any:
        try:
            return rows.iloc[evt.index[0], 0]
        except (AttributeError, IndexError, TypeError):
            return gr.skip()

    select_row.__annotations__["evt"] = gr.SelectData  # real class: gradio finds its event argument by it

    def do_rename(query: str, current: str | None, new: str) -> tuple[Any, ...]:
        text = rename(state, current or "", new)
        rows, choices, about = redraw(query, (new or "").strip())
        return text, rows, choices, about

    def do_import(query: str, current: str | None, files: Any, name: str, replace: bool) -> tuple[Any, ...]:
        text = import_files(state, files, name, replace)
        return (text, *redraw(query, current))

    def do_export(current: str | None) -> tuple[Any, ...]:
        return export(state, current or "")

    base = [search, pick]
    outs = [status, grid, pick, info]
    search.change(guarded(redraw, 3, 2), base, [grid, pick, info])
    refresh.click(guarded(redraw, 3, 2), base, [grid, pick, info])
    grid.select(select_row, [grid], [pick])
    pick.change(guarded(lambda n: details(state, n or ""), 1, 0), [pick], [info])

    def hear_choices(name: str | None) -> tuple[Any, Any]:
        entries = training_files(state, name)
        return "", gr.update(choices=entries, value=[])

    def do_hear(name: str | None, picked: list[str] | None, uploaded: Any) -> Iterator[tuple[Any, ...]]:
        yield from run_reconstruction(state, name, picked, uploaded)

    def do_hear_cancel() -> str:
        return "**Cancelling…**" if state.generate.cancel() else "Nothing is being reconstructed."

    pick.change(guarded(hear_choices, 2, 0), [pick], [hear_status, hear_files])
    hear_btn.click(guarded_stream(do_hear, 2, 0), [pick, hear_files, hear_upload], [hear_status, hear_players])
    hear_cancel.click(do_hear_cancel, None, [hear_status])
    tag_btn.click(guarded(after(lambda n, a, r: set_tags(state, n or "", a, r)), 4, 0),
                  [*base, tags_add, tags_remove], outs)
    desc_btn.click(guarded(after(lambda n, d: describe(state, n or "", d)), 4, 0), [*base, desc], outs)
    rename_btn.click(guarded(do_rename, 4, 0), [*base, new_name], outs)
    delete_btn.click(guarded(after(lambda n, ok: delete(state, n or "", ok)), 4, 0), [*base, confirm], outs)
    import_btn.click(guarded(do_import, 4, 0), [*base, upload, import_name, import_overwrite], outs)
    export_btn.click(guarded(do_export, 2, 0), [pick], [status, download])
    return {"grid": grid, "pick": pick, "info": info, "search": search, "redraw": redraw, "hear_files": hear_files,
            "hear_choices": hear_choices}
