"""The Codes tab: an RVQ model's code grid for a recording, drawn and clickable, edited and played.

Encode a file; click a cell to select it (its level, time and code); set its code, hear a code on its own,
swap or blend a region with a second file, let the prior regenerate a region, undo and redo, and decode the
grid to audio (written like any generation, with its history entry). The grid lives in the browser tab's
own state; the edits are the engine's code-grid editor's (``sda_engine.codes``: each one logged, undo is
bit-exact).
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sda_audio.errors import SdaError
from sda_gradio.state import AppState
from sda_gradio.ui import md_escape

ROW_PX = 44
MAX_WIDTH_PX = 1200


@dataclass
class CodesView:
    """One browser tab's editor: the grid, the second grid (for swap/blend), the selected cell."""

    model: str = ""
    grid: Any = None
    other: Any = None
    level: int = 0
    frame: int = 0
    notes: list[str] = field(default_factory=list)


def cell_px(frames: int) -> int:
    """Width of one frame's column in the picture."""
    return int(max(3, min(24, MAX_WIDTH_PX // max(frames, 1))))


def grid_picture(view: CodesView, region: tuple[int, int] | None = None) -> np.ndarray:
    """The grid as an RGB picture: one row per level (coarse on top), one column per frame, the hue is the
    code; the selected cell is outlined, the region shaded. A click at ``(x, y)`` is cell
    ``(y // ROW_PX, x // cell_px(frames))``."""
    grid = view.grid
    codes = grid.codes.numpy()
    levels, frames = codes.shape
    size = grid.model.codebook_size
    cw = cell_px(frames)
    image = np.zeros((levels * ROW_PX, frames * cw, 3), dtype=np.uint8)
    for lv in range(levels):
        for fr in range(frames):
            hue = (int(codes[lv, fr]) * 0.618034) % 1.0  # golden-ratio hues: neighbouring codes look different
            r, g, b = colorsys.hsv_to_rgb(hue, 0.55, 0.62 + 0.3 * (int(codes[lv, fr]) / max(size - 1, 1)))
            image[lv * ROW_PX + 1:(lv + 1) * ROW_PX - 1, fr * cw:(fr + 1) * cw - (1 if cw > 4 else 0)] = \
                (int(r * 255), int(g * 255), int(b * 255))
    if region is not None:
        lo, hi = region
        image[:, lo * cw:hi * cw] = (image[:, lo * cw:hi * cw] * 0.55 + 255 * 0.45).astype(np.uint8)
    y0, x0 = view.level * ROW_PX, view.frame * cw
    image[y0:y0 + ROW_PX, x0:x0 + 2] = image[y0:y0 + ROW_PX, x0 + cw - 2:x0 + cw] = 255
    image[y0:y0 + 2, x0:x0 + cw] = image[y0 + ROW_PX - 2:y0 + ROW_PX, x0:x0 + cw] = 255
    return image


def selected_code(view: CodesView) -> int | None:
    """The code in the selected cell (what the "Code for the selected cell" box shows)."""
    if view.grid is None:
        return None
    return int(view.grid.codes[view.level, view.frame])


def describe(view: CodesView) -> str:
    """The grid and the selected cell in words, with the edit log."""
    if view.grid is None:
        return "Encode a recording with an RVQ model to see its codes."
    g = view.grid
    labels = g.labels
    code = int(g.codes[view.level, view.frame])
    lines = [f"**{g.levels} levels x {g.frames} frames** ({g.seconds:.2f} s, {g.frame_seconds * 1000:.0f} ms per "
             f"frame, {g.model.codebook_size} codes per level) of model '{md_escape(g.model.name)}'. Rows from the "
             f"top: {', '.join(f'{i + 1} {name}' for i, name in enumerate(labels))}.",
             f"Selected: level {view.level + 1} ({labels[view.level]}), frame {view.frame} "
             f"({view.frame * g.frame_seconds:.2f} s), code **{code}**."]
    applied = [e.describe() for e in g.edits[:g.position]]
    if applied:
        lines.append("Edits: " + "; ".join(md_escape(a) for a in applied))
    if g.position < len(g.edits):
        lines.append(f"({len(g.edits) - g.position} edit(s) can be redone)")
    return "\n\n".join(lines)


@contextmanager
def _session(state: AppState, view: CodesView) -> Iterator[Any]:
    """The grid's model, held for this handler, checked to be the one the grid's codes belong to."""
    from sda_engine import check_grid

    if view.grid is None:
        raise SdaError("encode a recording first", hint="choose an RVQ model and a file, then press Encode")
    with state.using(view.model) as session:
        check_grid(view.grid, session)
        yield session


def _audio_path(item: Any) -> Path:
    from sda_gradio.tab_data import _file_path

    if not item:
        raise SdaError("choose a recording first", hint="drop an audio file on the box")
    return Path(_file_path(item))


def encode(state: AppState, model: str, file: Any) -> CodesView:
    """A new editor view: ``file`` encoded by ``model``."""
    from sda_engine import encode_file

    if not model:
        raise SdaError("choose an RVQ model first", hint="train one on the Train tab (kind rvq)")
    with state.using(model) as session:
        grid = encode_file(session, _audio_path(file))
    return CodesView(model=model, grid=grid)


def encode_other(state: AppState, view: CodesView, file: Any) -> CodesView:
    """Encode a second recording with the same model (for swap and blend)."""
    from sda_engine import encode_file

    with _session(state, view) as session:
        other = encode_file(session, _audio_path(file))
    return CodesView(view.model, view.grid, other, view.level, view.frame)


def select(view: CodesView, x: int, y: int) -> CodesView:
    """The cell under a click at picture pixel ``(x, y)`` becomes the selected one."""
    if view.grid is None:
        return view
    level = min(max(int(y) // ROW_PX, 0), view.grid.levels - 1)
    frame = min(max(int(x) // cell_px(view.grid.frames), 0), view.grid.frames - 1)
    return CodesView(view.model, view.grid, view.other, level, frame)


def set_cell(state: AppState, view: CodesView, index: Any) -> CodesView:
    from sda_engine import codes

    if index is None:
        raise SdaError("type the code to put in the selected cell")
    with _session(state, view):
        grid = codes.set_code(view.grid, view.level, view.frame, int(index))
    return CodesView(view.model, grid, view.other, view.level, view.frame)


def _region(view: CodesView, start: Any, stop: Any) -> tuple[int, int]:
    from sda_engine import codes

    return codes.frame_range(view.grid, float(start or 0.0), float(stop or 0.0))


def _levels(view: CodesView, chosen: list[str] | None) -> list[int] | None:
    labels = view.grid.labels
    if not chosen:
        return None
    return [labels.index(name) for name in chosen if name in labels]


def swap(state: AppState, view: CodesView, start: Any, stop: Any, levels: list[str] | None) -> CodesView:
    from sda_engine import codes

    if view.other is None:
        raise SdaError("encode a second recording to swap from", hint="drop it on 'Second recording' first")
    with _session(state, view) as session:
        lo, hi = _region(view, start, stop)
        grid = codes.swap_region(view.grid, view.other, session.bundle.autoencoder.rvq, lo, hi, _levels(view, levels))
    return CodesView(view.model, grid, view.other, view.level, view.frame)


def blend(state: AppState, view: CodesView, amount: float) -> CodesView:
    from sda_engine import codes

    if view.other is None:
        raise SdaError("encode a second recording to blend with", hint="drop it on 'Second recording' first")
    with _session(state, view) as session:
        grid = codes.blend_grids(view.grid, view.other, session.bundle.autoencoder.rvq, float(amount))
    return CodesView(view.model, grid, view.other, view.level, min(view.frame, grid.frames - 1))


def regenerate(state: AppState, view: CodesView, start: Any, stop: Any, levels: list[str] | None,
               temperature: float, seed: Any) -> CodesView:
    from sda_engine import codes

    with _session(state, view) as session:
        lo, hi = _region(view, start, stop)
        grid, _ = codes.regenerate_region(view.grid, session.bundle.prior, lo, hi, _levels(view, levels),
                                    float(temperature), 0, 1.0, int(seed or 0))
    return CodesView(view.model, grid, view.other, view.level, view.frame)


def undo_redo(view: CodesView, redo: bool) -> CodesView:
    from sda_engine import codes

    if view.grid is None:
        raise SdaError("encode a recording first")
    grid, _ = (codes.redo if redo else codes.undo)(view.grid)
    return CodesView(view.model, grid, view.other, view.level, view.frame)


def decode(state: AppState, view: CodesView) -> tuple[str, str]:
    """Render the grid (mono WAV, like a generation: file, sidecar, history entry; a fresh name in the history
    folder)."""
    from sda_engine import GenerationRequest, sketch_from_codes, write_sketch

    with _session(state, view) as session:
        grid = view.grid
        request = GenerationRequest().replace(duration=max(0.1, round(grid.seconds, 3)), channels="mono")
        result = write_sketch(session, sketch_from_codes(session, grid.codes), request,
                              extra={"code_grid": {"source": grid.source, "edits_applied": grid.position}})
    return (f"Decoded {result.duration:.2f} s with the {md_escape(result.vocoder)} vocoder (history "
            f"#{result.history_id})."), str(result.path)


def audition(state: AppState, view: CodesView, seconds: float = 1.5) -> tuple[str, str]:
    """Hear the selected cell's code on its own, held over its coarser levels' typical context."""
    from sda_engine import GenerationRequest, codes, sketch_from_codes, write_sketch

    with _session(state, view) as session:
        rvq = codes.require_rvq(session.bundle, session.name)
        code = int(view.grid.codes[view.level, view.frame])
        corpus = codes.codebook_usage(session.bundle, session.name).corpus if view.level > 0 else None
        frames = max(1, round(seconds / view.grid.frame_seconds))
        held = codes.entry_grid(rvq, view.level, code, frames, corpus)
        request = GenerationRequest().replace(duration=seconds, channels="mono")
        result = write_sketch(session, sketch_from_codes(session, held.codes), request,
                              extra={"codebook_entry": {"level": view.level + 1, "index": code, "how": held.how}})
    return (f"Level {view.level + 1} code {code}, held over {md_escape(held.how)}."), str(result.path)


def build(state: AppState) -> dict[str, Any]:
    import gradio as gr

    from sda_gradio.ui import guarded

    gr.Markdown("See and edit the codes an RVQ model hears in a recording: each row is a level (coarse structure "
                "on top, fine detail below), each column a short moment, each colour a code. Click a cell to "
                "select it.")
    view = gr.State(CodesView())
    with gr.Row():
        model = gr.Dropdown(label="RVQ model", choices=state.model_names(), elem_id="codes-model")
        source = gr.File(label="Recording", file_count="single", height=120, elem_id="codes-file")
        encode_btn = gr.Button("Encode", variant="primary", elem_id="codes-encode", scale=0)
    status = gr.Markdown(elem_id="codes-status")
    picture = gr.Image(label="Code grid (click a cell)", interactive=False, show_label=False, elem_id="codes-grid",
                       buttons=[])
    about = gr.Markdown(describe(CodesView()), elem_id="codes-about")
    with gr.Row():
        with gr.Column():
            index = gr.Number(label="Code for the selected cell", precision=0, elem_id="codes-index")
            with gr.Row():
                set_btn = gr.Button("Set code", elem_id="codes-set")
                hear_btn = gr.Button("Hear this code", elem_id="codes-hear")
            with gr.Row():
                undo_btn = gr.Button("Undo", elem_id="codes-undo")
                redo_btn = gr.Button("Redo", elem_id="codes-redo")
            decode_btn = gr.Button("Decode and play", variant="primary", elem_id="codes-decode")
        with gr.Column():
            with gr.Row():
                start = gr.Number(label="Region from (s)", value=0.0, elem_id="codes-from")
                stop = gr.Number(label="to (s)", value=1.0, elem_id="codes-to")
            levels = gr.CheckboxGroup(label="Levels (none = all)", choices=[], elem_id="codes-levels")
            with gr.Row():
                temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature", elem_id="codes-temp")
                seed = gr.Number(label="Seed", value=0, precision=0, elem_id="codes-seed")
            regen_btn = gr.Button("Regenerate region", elem_id="codes-regenerate")
        with gr.Column():
            other = gr.File(label="Second recording (swap / blend)", file_count="single", height=120,
                            elem_id="codes-other")
            other_btn = gr.Button("Encode second", elem_id="codes-encode-other")
            swap_btn = gr.Button("Swap region from it", elem_id="codes-swap")
            amount = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Blend amount (1 = all second)",
                               elem_id="codes-amount")
            blend_btn = gr.Button("Blend with it", elem_id="codes-blend")
    with gr.Row():
        played = gr.Audio(label="Decoded grid", type="filepath", interactive=False, elem_id="codes-audio")
        heard = gr.Audio(label="The selected code alone", type="filepath", interactive=False,
                         elem_id="codes-entry-audio")

    def show(v: CodesView, lo: Any = None, hi: Any = None, note: str = "") -> tuple[Any, ...]:
        # the code box always shows the selected cell's code (after a click, an edit, undo, encode ...)
        if v.grid is None:
            return note, None, describe(v), gr.update(choices=[]), v, None
        region = None
        if lo is not None and hi is not None:
            try:
                region = _region(v, lo, hi)
            except SdaError:
                region = None
        return (note, grid_picture(v, region), describe(v), gr.update(choices=v.grid.labels), v, selected_code(v))

    outs = [status, picture, about, levels, view, index]

    def do_encode(name: str, file: Any, lo: Any, hi: Any) -> tuple[Any, ...]:
        v = encode(state, name, file)
        return show(v, lo, hi, f"Encoded {Path(_audio_path(file)).name}.")

    def on_click(v: CodesView, lo: Any, hi: Any, evt: Any) -> tuple[Any, ...]:
        x, y = evt.index
        return show(select(v, x, y), lo, hi)  # with the cell's code, ready to change

    on_click.__annotations__["evt"] = gr.SelectData  # real class: gradio finds its event argument by it

    def edit(fn: Any) -> Any:
        def run(v: CodesView, lo: Any, hi: Any, *args: Any) -> tuple[Any, ...]:
            return show(fn(v, lo, hi, *args), lo, hi)
        return run

    encode_btn.click(guarded(do_encode, 6, 0), [model, source, start, stop], outs)
    picture.select(guarded(on_click, 6, 0), [view, start, stop], outs)
    set_btn.click(guarded(edit(lambda v, lo, hi, i: set_cell(state, v, i)), 6, 0), [view, start, stop, index], outs)
    undo_btn.click(guarded(edit(lambda v, lo, hi: undo_redo(v, False)), 6, 0), [view, start, stop], outs)
    redo_btn.click(guarded(edit(lambda v, lo, hi: undo_redo(v, True)), 6, 0), [view, start, stop], outs)
    other_btn.click(guarded(edit(lambda v, lo, hi, f: encode_other(state, v, f)), 6, 0),
                    [view, start, stop, other], outs)
    swap_btn.click(guarded(edit(lambda v, lo, hi, lv: swap(state, v, lo, hi, lv)), 6, 0),
                   [view, start, stop, levels], outs)
    blend_btn.click(guarded(edit(lambda v, lo, hi, a: blend(state, v, a)), 6, 0), [view, start, stop, amount], outs)
    regen_btn.click(guarded(edit(lambda v, lo, hi, lv, t, s: regenerate(state, v, lo, hi, lv, t, s)), 6, 0),
                    [view, start, stop, levels, temperature, seed], outs)
    for box in (start, stop):
        box.change(guarded(lambda v, lo, hi: show(v, lo, hi), 6, 0), [view, start, stop], outs)
    decode_btn.click(guarded(lambda v: decode(state, v), 2, 0), [view], [status, played])
    hear_btn.click(guarded(lambda v: audition(state, v), 2, 0), [view], [status, heard])
    return {"model": model}
