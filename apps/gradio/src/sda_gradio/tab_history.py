"""The History tab: every generation with its waveform, the settings that made it (in words), A/B at matched
loudness with one switch, "use these settings" (back into the Generate tab) and feeding chosen generations back
into a dataset."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from sda_audio.errors import SdaError
from sda_gradio.state import AppState
from sda_gradio.ui import file_url, md_escape
from sda_gradio.words import ab_words, entry_words

COLUMNS = ["#", "created", "model", "seed", "what", "controls", "seconds", "file there"]
LIMIT = 200


def _history(state: AppState) -> Any:
    from sda_engine import History

    return History(state.home)


def table(state: AppState, model: str = "") -> list[list[Any]]:
    from sda_gradio.words import controls_words

    rows = []
    for e in _history(state).list(limit=LIMIT, model=model or None):
        w = entry_words(e)
        generated = w.kind == "generation"
        rows.append([e.id, e.created[:19].replace("T", " "), w.model,
                     (w.seed if w.seed is not None else "") if generated else "no seed", w.kind_text,
                     controls_words(w.controls) if generated else "edited codes",
                     round(e.duration or 0.0, 2), "yes" if e.audio_exists else "no"])
    return rows


def gallery(state: AppState, limit: int = 24) -> list[tuple[str, str]]:
    """Waveform thumbnails of the newest generations whose audio is still there."""
    history = _history(state)
    items = []
    for entry in history.list(limit=limit):
        if entry.audio_exists:
            try:
                items.append((str(history.thumbnail(entry.id)), entry_words(entry).caption()))
            except SdaError:
                continue
    return items


def _entry_id(value: Any) -> int:
    try:
        number = float(str(value).strip().lstrip("#"))
    except ValueError:
        raise SdaError(f"'{value}' is not a generation number", hint="use a number from the # column") from None
    if not number.is_integer() or number < 1:
        raise SdaError(f"'{value}' is not a generation number", hint="use a number from the # column")
    return int(number)


def show(state: AppState, entry: Any) -> tuple[str, str | None, str]:
    """``(summary markdown, audio path or None, settings in words (markdown))`` of one generation."""
    e = _history(state).show(_entry_id(entry))
    w = entry_words(e)
    text = (f"**#{e.id}**, {md_escape(w.kind_text)}: {md_escape(w.model)} · {md_escape(w.seed_text)} · "
            f"{md_escape(w.form_text)} · vocoder {md_escape(e.vocoder or '?')}"
            + (f" ({md_escape(e.vocoder_reason)})" if e.vocoder_reason else ""))
    if not e.audio_exists:
        text += f"\n\nThe audio file is gone: {md_escape(e.audio_path)}"
    return text, (str(e.audio_path) if e.audio_exists else None), w.markdown()


def use_settings(state: AppState, entry: Any) -> tuple[str | None, list[Any]]:
    """The model and Generate form values that make generation ``entry`` again."""
    from sda_gradio.tab_generate import form_values

    e = _history(state).show(_entry_id(entry))
    return e.model_name, form_values(e.request())


SWITCH_JS = ("const box=this.closest('.sda-ab');const au=box.querySelector('audio');"
             "const t=au.currentTime,playing=!au.paused;const next=au.dataset.which==='A'?'B':'A';"
             "au.dataset.which=next;au.src=au.dataset[next.toLowerCase()];"
             "au.addEventListener('loadedmetadata',()=>{au.currentTime=Math.min(t,au.duration||t);"
             "if(playing){au.play();}},{once:true});au.load();"
             "box.querySelector('.sda-ab-now').textContent='Now: '+next;"
             "this.textContent='Switch to '+(next==='A'?'B':'A');")


def ab_player(a_path: str | Path, b_path: str | Path) -> str:
    """One player whose source switches between the matched A and B, keeping the playback position."""
    a, b = html.escape(file_url(a_path), quote=True), html.escape(file_url(b_path), quote=True)
    return (f'<div class="sda-ab"><audio class="sda-ab-audio" controls preload="auto" src="{a}" data-a="{a}" '
            f'data-b="{b}" data-which="A"></audio> <button type="button" class="sda-ab-switch lg secondary" '
            f'onclick="{html.escape(SWITCH_JS, quote=True)}">Switch to B</button> '
            f'<strong class="sda-ab-now">Now: A</strong></div>')


def ab(state: AppState, a: Any, b: Any) -> tuple[str, str, str]:
    """Loudness-matched copies of two generations and how B differs from A in words. The copies of a pair have
    one name each (``history/ab/ab_<a>_<b>_a.wav``), and comparing the pair again makes the same files, so the
    page replaces them. Returns ``(markdown, A copy, B copy)``."""
    result = _history(state).ab(_entry_id(a), _entry_id(b), overwrite=True)
    lines = [f"**A = #{result.a.id}, B = #{result.b.id}**, both matched to {result.a_matched.matched_lufs:.1f} LUFS "
             f"(gain A {result.a_matched.gain_db:+.1f} dB, B {result.b_matched.gain_db:+.1f} dB). Press the switch "
             "while it plays: it carries on at the same moment in the other one."]
    differences = ab_words(result.a, result.b)
    lines += ["", *(f"- {md_escape(d)}" for d in differences)] if differences else ["", "Same settings."]
    return "\n".join(lines), str(result.a_matched.path), str(result.b_matched.path)


def feed(state: AppState, ids_text: str, dataset: str) -> str:
    """Copy generations ``ids_text`` (e.g. ``3, 5``) into dataset ``dataset`` (created if new)."""
    ids = [_entry_id(part) for part in (ids_text or "").replace(";", ",").split(",") if part.strip()]
    if not ids:
        raise SdaError("name the generations to add", hint="e.g. 3, 5 (numbers from the # column)")
    name = dataset or ""
    if not name.strip():
        raise SdaError("choose or type the dataset to add them to")
    folder = state.home.dataset_dir(name)  # the one name rule: its message says what to type, nothing is trimmed
    result = _history(state).feed(ids, folder, name)
    lines = [f"Added {len(result.added)} generation(s) to dataset **{md_escape(name)}**."]
    lines += [f"- #{i} skipped: {md_escape(why)}" for i, why in result.skipped.items()]
    return "\n".join(lines)


def build(state: AppState) -> dict[str, Any]:
    import gradio as gr

    from sda_gradio.ui import guarded

    with gr.Row():
        model_filter = gr.Textbox(label="Only this model (empty = all)", elem_id="hist-filter", scale=3)
        refresh = gr.Button("Refresh", elem_id="hist-refresh", scale=0)
    grid = gr.Dataframe(value=table(state), headers=COLUMNS, interactive=False, elem_id="hist-table")
    thumbs = gr.Gallery(value=gallery(state), label="Newest generations", columns=4, height=220,
                        object_fit="fill", elem_id="hist-thumbs", elem_classes=["sda-waves"])
    status = gr.Markdown(elem_id="hist-status")
    with gr.Row():
        with gr.Column():
            entry = gr.Number(label="Generation #", value=None, precision=0, elem_id="hist-entry")
            show_btn = gr.Button("Show", elem_id="hist-show")
            use_btn = gr.Button("Use these settings", variant="primary", elem_id="hist-use")
            summary = gr.Markdown(elem_id="hist-summary")
            player = gr.Audio(label="This generation", type="filepath", interactive=False, elem_id="hist-audio")
        with gr.Column():
            gr.Markdown("**Settings that made it**")
            params = gr.Markdown(elem_id="hist-params")
    with gr.Accordion("A/B at matched loudness", open=False):
        with gr.Row():
            a_id = gr.Number(label="A: generation #", value=None, precision=0, elem_id="hist-a")
            b_id = gr.Number(label="B: generation #", value=None, precision=0, elem_id="hist-b")
            ab_btn = gr.Button("Compare", elem_id="hist-ab")
        ab_player_html = gr.HTML(elem_id="hist-ab-player")
        ab_text = gr.Markdown(elem_id="hist-ab-text")
    with gr.Accordion("Feed into a dataset (train on your favourites)", open=False):
        with gr.Row():
            feed_ids = gr.Textbox(label="Generations (e.g. 3, 5)", elem_id="hist-feed-ids")
            feed_ds = gr.Dropdown(label="Dataset (pick or type a new name)", choices=state.dataset_names(),
                                  allow_custom_value=True, elem_id="hist-feed-dataset")
            feed_btn = gr.Button("Add to dataset", elem_id="hist-feed")

    def redraw(model: str) -> tuple[Any, ...]:
        return table(state, model), gallery(state)

    def do_show(value: Any) -> tuple[Any, ...]:
        text, path, snapshot = show(state, value)
        return "", text, path, snapshot

    def select_row(rows: Any, evt: Any) -> Any:
        try:
            return int(rows.iloc[evt.index[0], 0])
        except (AttributeError, IndexError, TypeError, ValueError):
            return gr.skip()

    select_row.__annotations__["evt"] = gr.SelectData  # real class: gradio finds its event argument by it

    refresh.click(guarded(redraw, 2, 0), [model_filter], [grid, thumbs])
    model_filter.submit(guarded(redraw, 2, 0), [model_filter], [grid, thumbs])
    grid.select(select_row, [grid], [entry])
    show_btn.click(guarded(do_show, 4, 0), [entry], [status, summary, player, params])
    entry.submit(guarded(do_show, 4, 0), [entry], [status, summary, player, params])
    def do_ab(a: Any, b: Any) -> tuple[str, str]:
        text, a_path, b_path = ab(state, a, b)
        return text, ab_player(a_path, b_path)

    ab_btn.click(guarded(do_ab, 2, 0), [a_id, b_id], [ab_text, ab_player_html])
    feed_btn.click(guarded(lambda i, d: feed(state, i, d), 1, 0), [feed_ids, feed_ds], [status])
    return {"entry": entry, "use": use_btn, "status": status, "redraw": redraw, "grid": grid, "thumbs": thumbs,
            "filter": model_filter, "feed_dataset": feed_ds}
