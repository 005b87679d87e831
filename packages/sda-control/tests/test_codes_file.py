"""The .sdacodes file: bit-exact round trips, and one clear error for every damaged or hostile file."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save, save_file

from sda_control.codes import CodeGrid, GridFileError, ModelRef, load_grid, save_grid, set_code, undo
from sda_control.codes.gridfile import METADATA_KEY

REF = ModelRef(name="tiny", sha256="ab" * 32, levels=3, codebook_size=16, frame_seconds=0.0464, path=None)


def _grid(frames: int = 20, seed: int = 0) -> CodeGrid:
    codes = torch.randint(0, 16, (3, frames), generator=torch.Generator().manual_seed(seed))
    return CodeGrid(codes=codes, model=REF, source={"path": "x.wav", "sha256": "cd" * 32, "sample_rate": 22050,
                                                    "channels": 2, "seconds": 0.9})


def _edited() -> CodeGrid:
    grid = set_code(_grid(), 0, 3, 5)
    grid = set_code(grid, 2, 7, 9)
    return undo(grid)[0]  # one applied, one undone


def test_round_trip_keeps_codes_edits_and_position(tmp_path: Path) -> None:
    grid = _edited()
    path = save_grid(grid, tmp_path / "g.sdacodes")
    back = load_grid(path)
    assert torch.equal(back.codes, grid.codes) and back.codes.dtype == torch.long
    assert back.model == grid.model and back.source == grid.source and back.position == 1
    assert [(e.op, e.params, e.start, e.stop) for e in back.edits] == [(e.op, e.params, e.start, e.stop)
                                                                       for e in grid.edits]
    for a, b in zip(back.edits, grid.edits):
        assert torch.equal(a.before, b.before) and torch.equal(a.after, b.after)
    view = back.to_dict()
    assert {"model", "levels", "frames", "frame_seconds", "codes", "labels"} <= set(view)
    assert view["labels"] == ["Structure", "Timbre", "Detail"] and view["codes"] == grid.codes.tolist()
    assert json.loads(json.dumps(view)) == view


def _check_one_line(path: Path, fragment: str | None = None) -> None:
    with pytest.raises(GridFileError) as info:
        load_grid(path)
    text = str(info.value)
    assert "\n" not in text and path.name in text, text
    if fragment:
        assert fragment in text, text


def _valid_bytes() -> bytes:
    grid = _edited()
    tensors = {"codes": grid.codes}
    for i, e in enumerate(grid.edits):
        tensors[f"edit.{i}.before"], tensors[f"edit.{i}.after"] = e.before, e.after
    return save(tensors, metadata={METADATA_KEY: json.dumps(_meta(grid))})


def _meta(grid: CodeGrid) -> dict:
    return {"format": "sda-codes", "format_version": 1, "created": grid.created, "model": REF.to_dict(),
            "source": grid.source, "position": grid.position,
            "edits": [{"op": e.op, "params": e.params, "start": e.start, "stop": e.stop, "when": e.when}
                      for e in grid.edits]}


@pytest.mark.parametrize("cut", [0, 5, 8, 40, -1, -9])
def test_truncated_files_get_one_line(tmp_path: Path, cut: int) -> None:
    data = _valid_bytes()
    path = tmp_path / "cut.sdacodes"
    path.write_bytes(data[:cut] if cut >= 0 else data[:len(data) + cut])
    _check_one_line(path)


def test_garbage_missing_and_folder(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sdacodes"
    junk.write_bytes(b"RIFF....WAVEfmt " * 50)
    _check_one_line(junk)
    _check_one_line(tmp_path / "nope.sdacodes", "not found")
    folder = tmp_path / "dir.sdacodes"
    folder.mkdir()
    _check_one_line(folder, "folder")
    huge = tmp_path / "huge.sdacodes"
    huge.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    _check_one_line(huge)


def _write_meta(tmp_path: Path, name: str, meta: object, tensors: dict | None = None) -> Path:
    path = tmp_path / name
    grid = _grid()
    text = meta if isinstance(meta, str) else json.dumps(meta)
    save_file(tensors if tensors is not None else {"codes": grid.codes}, str(path), metadata={METADATA_KEY: text})
    return path


def test_hostile_metadata_gets_one_line(tmp_path: Path) -> None:
    base = _meta(_grid())
    base["edits"], base["position"] = [], 0
    cases = {
        "not_json": "{nope",
        "deep": "[" * 100000 + "]" * 100000,
        "list": [1, 2],
        "format": {**base, "format": "something-else"},
        "newer": {**base, "format_version": 99},
        "position": {**base, "position": 5},
        "levels": {**base, "model": {**base["model"], "levels": 10**9}},
        "frame": {**base, "model": {**base["model"], "frame_seconds": float("nan")}},
        "edits_type": {**base, "edits": "lots"},
    }
    for name, meta in cases.items():
        _check_one_line(_write_meta(tmp_path, f"{name}.sdacodes", meta))
    plain = tmp_path / "plain.sdacodes"
    save_file({"codes": _grid().codes}, str(plain))
    _check_one_line(plain, "not an sda code grid")


def test_tensors_that_contradict_the_metadata(tmp_path: Path) -> None:
    base = _meta(_grid())
    base["edits"], base["position"] = [], 0
    grid = _grid()
    out_of_range = grid.codes.clone()
    out_of_range[1, 2] = 16
    _check_one_line(_write_meta(tmp_path, "range.sdacodes", base, {"codes": out_of_range}), "outside")
    _check_one_line(_write_meta(tmp_path, "float.sdacodes", base, {"codes": grid.codes.float()}))
    _check_one_line(_write_meta(tmp_path, "shape.sdacodes", base, {"codes": grid.codes[:2]}))
    _check_one_line(_write_meta(tmp_path, "extra.sdacodes", base, {"codes": grid.codes, "evil": grid.codes.clone()}))
    edit = {"op": "set", "params": {}, "start": 15, "stop": 99, "when": ""}
    bad_edit = {**base, "edits": [edit], "position": 1}
    piece = grid.codes[:, 15:20].contiguous()
    _check_one_line(_write_meta(tmp_path, "edit.sdacodes", bad_edit,
                                {"codes": grid.codes, "edit.0.before": piece, "edit.0.after": piece.clone()}),
                    "outside")


def test_a_grid_edited_outside_sda_refuses_to_undo(tmp_path: Path) -> None:
    grid = set_code(_grid(), 1, 4, 11)
    grid.codes[1, 4] = 12  # someone changed the cell behind the log's back
    path = save_grid(grid, tmp_path / "tampered.sdacodes")
    with pytest.raises(Exception) as info:
        undo(load_grid(path))
    assert "do not match its edit log" in str(info.value) and "tampered.sdacodes" in str(info.value)
