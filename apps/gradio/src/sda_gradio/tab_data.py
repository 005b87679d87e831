"""The Data tab: bring recordings into a dataset of the library, check them, see them.

Files dropped on the page (or a folder path on this computer) are copied into ``datasets/<name>/`` by
:func:`sda_audio.dataset.import_dataset` (the name follows the one rule for names, and its message is shown,
never a silently changed name; NaN/infinite samples are set to 0 only when the repair box is ticked); the
validation report names every problem file; the summary shows each file's facts with a waveform thumbnail, and
a player plays the file picked in the list (or clicked in the waveforms).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sda_audio.errors import SdaError
from sda_gradio.state import AppState
from sda_gradio.ui import md_escape

SEVERITY = {"error": "ERROR", "warning": "warning", "info": "note"}


def import_files(state: AppState, files: Sequence[Any] | None, folder: str, name: str,
                 repair: bool = False) -> tuple[str, str]:
    """Import uploaded files and/or a folder into dataset ``name``. Returns ``(report markdown, name)``.

    Rejected files (unreadable, silent, not audio) are named with the reason; the rest are kept. ``name``
    follows the one rule for names (its message, suggesting a trimmed name, is shown; nothing is trimmed
    silently). With ``repair`` a file with NaN/infinite samples is imported as a copy with those samples set
    to 0 (the original is untouched).
    """
    from sda_audio.dataset import import_dataset

    name = name or ""
    if not name.strip():
        raise SdaError("the dataset needs a name", hint="type a short name such as 'field-recordings'")
    dest = state.home.dataset_dir(name)  # the name rule (InvalidNameError says what to type instead)
    sources: list[Path] = [Path(_file_path(f)) for f in (files or [])]
    if folder and folder.strip():
        path = Path(folder.strip()).expanduser()
        if not path.exists():
            raise SdaError("folder not found", path=path, hint="check the path, or drop the files on the page")
        sources.append(path)
    if not sources:
        raise SdaError("nothing to import", hint="drop audio files on the upload box or type a folder path")
    result = import_dataset(sources, dest, name, repair_non_finite=bool(repair))
    total = len(result.manifest.entries) if result.manifest else len(result.imported)
    lines = [f"**Imported {len(result.imported)} file(s) into dataset '{md_escape(name)}'** "
             f"({total} in the dataset now)."]
    if result.duplicates:
        lines.append(f"\nSkipped {len(result.duplicates)} duplicate(s):")
        lines += [f"- {md_escape(Path(d.source).name)}: same content as {md_escape(d.duplicate_of)}"
                  for d in result.duplicates]
    if result.rejected:
        lines.append(f"\n**Rejected {len(result.rejected)} file(s)** (the others were kept):")
        lines += [f"- {md_escape(Path(r.source).name)}: {md_escape(r.reason)}" for r in result.rejected]
        if not repair and any(_non_finite(r.reason) for r in result.rejected):
            lines.append("\nFiles with NaN/infinite samples can be imported as repaired copies: tick "
                         f"'{REPAIR_LABEL}' and import again.")
    return "\n".join(lines), name


REPAIR_LABEL = "Set NaN/infinite samples to 0 (repair)"


def _non_finite(reason: str) -> bool:
    text = reason.lower()
    return "nan" in text or "infinite" in text or "non-finite" in text


def _file_path(item: Any) -> str:
    """A path from what gr.File hands over (a path string, or an object with ``.name``/``.path``)."""
    if isinstance(item, (str, Path)):
        return str(item)
    for attr in ("path", "name"):
        value = getattr(item, attr, None)
        if isinstance(value, str):
            return value
    if isinstance(item, dict) and "path" in item:
        return str(item["path"])
    raise SdaError(f"cannot read the uploaded item {item!r}", hint="upload the file again")


def validation_markdown(state: AppState, name: str) -> str:
    """The validation report of dataset ``name``: verdict, then every problem with its file."""
    from sda_audio.validation import validate_dataset

    folder = _dataset_folder(state, name)
    report = validate_dataset(folder)
    verdict = (f"**Ready to train** on {len(report.usable_files)} file(s)" if report.ok
               else "**Not ready to train**: fix or remove the files marked ERROR, then check again")
    lines = [f"{verdict}. {len(report.files)} file(s) checked, {report.total_duration:.1f} s of usable audio; "
             f"sample rates: {', '.join(f'{r} Hz' for r in sorted(report.sample_rates)) or 'none'}."]
    rows = [(i.severity, f.path.name, i.message) for f in report.files for i in f.issues]
    rows += [(i.severity, "(dataset)", i.message) for i in report.issues]
    if report.non_finite_files:
        lines.append(f"\n{len(report.non_finite_files)} file(s) have NaN/infinite samples: tick '{REPAIR_LABEL}' "
                     "and import them again to use repaired copies.")
    if rows:
        lines += ["", "| | file | problem |", "|---|---|---|"]
        lines += [f"| {SEVERITY.get(sev, sev)} | {md_escape(file)} | {md_escape(msg)} |"
                  for sev, file, msg in sorted(rows, key=lambda r: (r[0] != "error", r[1]))]
    else:
        lines.append("\nNo problems found.")
    return "\n".join(lines)


def files(state: AppState, name: str) -> list[tuple[str, str]]:
    """``[(file name in the dataset, its path), ...]`` of dataset ``name`` (what the player can play)."""
    from sda_audio.files import list_audio_files

    folder = _dataset_folder(state, name)
    return [(p.relative_to(folder).as_posix(), str(p)) for p in sorted(list_audio_files(folder))]


def summary(state: AppState, name: str) -> tuple[str, list[tuple[str, str]]]:
    """``(summary markdown, [(thumbnail png, caption), ...])`` of dataset ``name``."""
    from sda_audio.summary import summarize_dataset
    from sda_audio.thumbnails import dataset_thumbnails

    folder = _dataset_folder(state, name)
    info = summarize_dataset(folder)
    rates = ", ".join(f"{rate} Hz x{count}" for rate, count in sorted(info.sample_rates.items()))
    chans = ", ".join(f"{ch} ch x{count}" for ch, count in sorted(info.channels.items()))
    text = (f"**{info.file_count} file(s), {info.total_duration:.1f} s in all** "
            f"(shortest {info.shortest:.1f} s, longest {info.longest:.1f} s); {rates or 'no audio'}; {chans}.")
    if info.unreadable:
        text += "\n\nUnreadable: " + ", ".join(md_escape(p.name) for p in info.unreadable)
    thumbs = dataset_thumbnails(folder, state.home.root / "thumbnails" / name)
    by_stem = {png.name.rsplit("-", 2)[0]: png for png in thumbs}  # <stem>-<sha16>-<w>x<h>.png
    gallery = []
    for f in info.files:
        png = by_stem.get(f.path.stem)
        if png is not None:
            gallery.append((str(png), f"{f.relative} · {f.duration:.1f} s · {f.sample_rate / 1000:g} kHz · "
                                      f"{f.channels} ch"))
    return text, gallery


def _dataset_folder(state: AppState, name: str) -> Path:
    if not name:
        raise SdaError("choose a dataset first", hint="import some recordings or pick one from the list")
    folder = state.home.dataset_dir(name)
    if not folder.is_dir():
        raise SdaError(f"no dataset named '{name}'", path=folder, hint="import recordings into it first")
    return folder


def build(state: AppState) -> dict[str, Any]:
    """The tab's components (inside an open ``gr.Tab``); returns those other tabs use."""
    import gradio as gr

    from sda_gradio.ui import guarded

    gr.Markdown("Drop recordings (WAV, FLAC, AIFF, OGG, MP3) or give a folder on this computer. sda copies them "
                "into a dataset of its library, checks every file and shows what it has.")
    with gr.Row():
        with gr.Column(scale=2):
            upload = gr.File(label="Recordings", file_count="multiple", elem_id="data-upload")
            folder = gr.Textbox(label="…or a folder path", placeholder="/path/to/recordings", elem_id="data-folder")
        with gr.Column(scale=1):
            name = gr.Textbox(label="Dataset name", value="my-sounds", elem_id="data-name")
            repair = gr.Checkbox(label=REPAIR_LABEL, value=False, elem_id="data-repair",
                                 info="Only for files that have them; the originals are never changed.")
            import_btn = gr.Button("Import", variant="primary", elem_id="data-import")
            datasets = gr.Dropdown(label="Datasets in the library", choices=state.dataset_names(),
                                   allow_custom_value=False, elem_id="data-datasets")
            check_btn = gr.Button("Check dataset", elem_id="data-check")
    status = gr.Markdown(elem_id="data-status")
    report = gr.Markdown(elem_id="data-report")
    summary_md = gr.Markdown(elem_id="data-summary")
    with gr.Row():
        listen = gr.Dropdown(label="Listen to a file (or click its waveform)", choices=[], elem_id="data-listen",
                             scale=1)
        player = gr.Audio(label="Recording", type="filepath", interactive=False, elem_id="data-player", scale=2)
    gallery = gr.Gallery(label="Waveforms", columns=3, height="auto", object_fit="fill", elem_id="data-thumbs",
                         elem_classes=["sda-waves"], allow_preview=False)

    def listing(dataset: str) -> tuple[Any, Any]:
        entries = files(state, dataset)
        first = entries[0][1] if entries else None
        return gr.update(choices=entries, value=first), first

    def do_import(uploaded: Any, folder_text: str, dataset: str, fix: bool) -> tuple[Any, ...]:
        text, ds = import_files(state, uploaded, folder_text, dataset, fix)
        check = validation_markdown(state, ds)
        summ, thumbs = summary(state, ds)
        return (text, check, summ, thumbs, gr.update(choices=state.dataset_names(), value=ds), *listing(ds))

    def do_check(dataset: str) -> tuple[Any, ...]:
        check = validation_markdown(state, dataset)
        summ, thumbs = summary(state, dataset)
        return ("", check, summ, thumbs, *listing(dataset))

    def pick_thumb(dataset: str, evt: Any) -> tuple[Any, Any]:
        # the caption starts with the file's name in the dataset (see summary())
        value = evt.value if isinstance(evt.value, dict) else {}
        relative = str(value.get("caption") or "").split(" · ")[0]
        try:
            path = dict(files(state, dataset)).get(relative)
        except SdaError:
            path = None
        if path is None:
            return gr.skip(), gr.skip()
        return gr.update(value=path), path

    pick_thumb.__annotations__["evt"] = gr.SelectData  # real class: gradio finds its event argument by it

    shown = [status, report, summary_md, gallery]
    import_btn.click(guarded(do_import, 7, 0), [upload, folder, name, repair], [*shown, datasets, listen, player])
    check_btn.click(guarded(do_check, 6, 0), [datasets], [*shown, listen, player])
    datasets.input(guarded(do_check, 6, 0), [datasets], [*shown, listen, player])
    listen.input(lambda path: path, [listen], [player])
    gallery.select(pick_thumb, [datasets], [listen, player])
    return {"datasets": datasets}
