"""The base corpus (``sda base corpus OUT/``): what the plan holds at full size, and a quick build that is
reproducible, resumable and written atomically. Tests that render through fluidsynth skip without it."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from sda_audio.errors import Cancelled, SdaError
from sda_audio.progress import CancelToken, ProgressEvent
from sda_audio.synth_corpus import KINDS
from sda_engine.base import corpus, gm, midi
from sda_engine.base.corpus import MANIFEST, build_corpus, read_manifest
from sda_engine.base.plan import LENGTHS, SOURCES, VELOCITIES, CorpusItem, plan_corpus

LOCK = ".sda.lock"
"""The folder's lock file (held while a build runs; it stays, empty of meaning, when none does)."""
HAVE_FLUIDSYNTH = shutil.which("fluidsynth") is not None and midi.SOUNDFONT.is_file()
needs_fluidsynth = pytest.mark.skipif(
    not HAVE_FLUIDSYNTH,
    reason=f"needs the fluidsynth program and the soundfont {midi.SOUNDFONT} "
           "(sudo apt-get install fluidsynth fluid-soundfont-gm)")


@pytest.fixture(scope="module")
def full_plan() -> list[CorpusItem]:
    return plan_corpus()  # the default size, 120 minutes


def _by(items: list[CorpusItem], source: str, kind: str | None = None) -> list[CorpusItem]:
    return [i for i in items if i.source == source and (kind is None or i.kind == kind)]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK}


def _stamps(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*.flac")}


# --- the plan ------------------------------------------------------------------------------------------------


def test_full_plan_has_every_melodic_program_with_notes_chords_and_phrases(full_plan: list[CorpusItem]) -> None:
    melodic = _by(full_plan, "gm")
    kinds: dict[int, Counter[str]] = {}
    for item in melodic:
        kinds.setdefault(item.spec["program"], Counter())[item.kind] += 1
        assert item.spec["program_name"] == gm.PROGRAMS[item.spec["program"]] and item.spec["channel"] == 0
    assert sorted(kinds) == list(range(128))
    for program, count in kinds.items():
        assert count["note"] >= 4 and count["chord"] >= 1 and count["phrase"] >= 1, (program, count)
    for item in _by(full_plan, "gm", "chord"):
        assert len(item.spec["notes"]) >= 3 and len({n["start"] for n in item.spec["notes"]}) == 1
    for item in _by(full_plan, "gm", "phrase"):
        starts = [n["start"] for n in item.spec["notes"]]
        assert len(starts) >= 6 and starts == sorted(starts) and len(set(starts)) == len(starts)


def test_full_plan_spreads_pitches_velocities_and_lengths(full_plan: list[CorpusItem]) -> None:
    melodic = _by(full_plan, "gm")
    for program in range(128):
        low, high = gm.pitch_range(program)
        pitches = [n["pitch"] for i in melodic if i.spec["program"] == program for n in i.spec["notes"]]
        assert all(low <= p <= high for p in pitches), program  # each program only where it sounds like itself
        assert max(pitches) - min(pitches) >= 0.5 * (high - low), program
    notes = [n for i in melodic for n in i.spec["notes"]]
    assert min(n["pitch"] for n in notes) <= 28 and max(n["pitch"] for n in notes) >= 100
    assert all(1 <= n["velocity"] <= 127 and n["length"] > 0 for n in notes)
    singles = _by(full_plan, "gm", "note")
    assert {i.spec["notes"][0]["velocity"] for i in singles} == set(VELOCITIES)
    lengths = Counter(i.spec["notes"][0]["length"] for i in singles)
    assert set(lengths) == set(LENGTHS) and min(lengths.values()) > 0.1 * len(singles) / len(LENGTHS)
    phrase_velocities = {n["velocity"] for i in _by(full_plan, "gm", "phrase") for n in i.spec["notes"]}
    assert len(phrase_velocities) > 40


def test_full_plan_has_every_drum_note_on_every_kit_and_grooves(full_plan: list[CorpusItem]) -> None:
    hits = _by(full_plan, "gm_drums", "hit")
    assert all(i.spec["channel"] == midi.DRUM_CHANNEL for i in _by(full_plan, "gm_drums"))
    standard = Counter(i.spec["notes"][0]["pitch"] for i in hits if i.spec["program"] == 0)
    assert sorted(standard) == list(gm.DRUM_NOTES) == list(range(35, 82))
    assert {v for i in hits if i.spec["program"] == 0 for v in [i.spec["notes"][0]["velocity"]]} == {50, 100, 127}
    for kit in gm.DRUM_KITS:
        assert {i.spec["notes"][0]["pitch"] for i in hits if i.spec["program"] == kit} == set(gm.DRUM_NOTES), kit
    grooves = _by(full_plan, "gm_drums", "groove")
    assert len(grooves) >= 2 * len(gm.DRUM_KITS) and {i.spec["program"] for i in grooves} == set(gm.DRUM_KITS)
    assert all(len(i.spec["notes"]) > 16 for i in grooves)


def test_full_plan_has_every_synthesis_kind_and_the_asked_size(full_plan: list[CorpusItem]) -> None:
    synth = Counter(i.kind for i in _by(full_plan, "sda_synth"))
    assert set(synth) == set(KINDS) and min(synth.values()) >= 50
    rooms = sum(1 for i in _by(full_plan, "sda_synth") if i.spec["params"].get("room"))
    assert 0.2 < rooms / sum(synth.values()) < 0.5
    assert len({i.path for i in full_plan}) == len(full_plan)  # no two sounds share a file
    minutes = sum(i.estimate for i in full_plan) / 60
    assert 115 < minutes < 130
    by_source = Counter[str]()
    for item in full_plan:
        by_source[item.source] += item.estimate / 60
    assert 55 < by_source["gm"] < 75 and 8 < by_source["gm_drums"] < 14 and 38 < by_source["sda_synth"] < 46
    assert all(json.loads(json.dumps(i.spec)) == i.spec for i in full_plan)  # the manifest holds specs as they are


def test_plan_is_fixed_by_seed_and_size_and_small_sizes_still_cover_everything(full_plan: list[CorpusItem]) -> None:
    assert plan_corpus(120.0, 0) == full_plan
    other = plan_corpus(120.0, 1)
    assert [i.spec_sha for i in other] != [i.spec_sha for i in full_plan]
    assert {i.spec["program"] for i in _by(other, "gm")} == set(range(128))
    small = plan_corpus(0.5, 0)
    assert {i.spec["program"] for i in _by(small, "gm")} == set(range(128))
    assert {i.spec["notes"][0]["pitch"] for i in _by(small, "gm_drums", "hit")} == set(gm.DRUM_NOTES)
    assert {i.kind for i in _by(small, "sda_synth")} == set(KINDS)
    bigger = plan_corpus(240.0, 0)
    assert 1.8 < sum(i.estimate for i in bigger) / sum(i.estimate for i in full_plan) < 2.2
    assert [i.source for i in plan_corpus(10.0, 0, sources=("synth",))] == ["sda_synth"] * len(
        plan_corpus(10.0, 0, sources=("synth",)))


def test_quick_plan_is_tiny_and_has_every_kind() -> None:
    quick = plan_corpus(500.0, 0, quick=True)  # quick ignores the size
    assert quick == plan_corpus(1.0, 0, quick=True)
    assert {i.source for i in quick} == {"gm", "gm_drums", "sda_synth"}
    assert {i.kind for i in _by(quick, "gm")} == {"note", "chord", "phrase"}
    assert {i.kind for i in _by(quick, "sda_synth")} == set(KINDS)
    assert 10 < sum(i.estimate for i in quick) < 30 and len(quick) <= 20


def test_plan_refuses_unknown_sources_and_sizes() -> None:
    with pytest.raises(ValueError, match="unknown corpus sources"):
        plan_corpus(sources=("gm", "birdsong"))
    with pytest.raises(ValueError, match="unknown corpus sources"):
        plan_corpus(sources=())
    for minutes in (0.0, -3.0):
        with pytest.raises(ValueError, match="must be positive"):
            plan_corpus(minutes)
    assert SOURCES == ("gm", "drums", "synth")


# --- missing fluidsynth or soundfont -------------------------------------------------------------------------


def test_missing_fluidsynth_names_the_packages_and_writes_nothing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(midi.shutil, "which", lambda name: None)
    out = tmp_path / "corpus"
    with pytest.raises(SdaError) as caught:
        build_corpus(out, quick=True)
    text = str(caught.value)
    assert "fluidsynth is not installed" in text and "PATH" in text
    assert "apt-get install fluidsynth fluid-soundfont-gm" in text
    assert not out.exists()
    with pytest.raises(SdaError, match="apt-get install fluidsynth fluid-soundfont-gm"):
        build_corpus(out, quick=True, sources=("drums",))
    done = build_corpus(out, quick=True, sources=("synth",))  # sda's own synthesis needs neither
    assert done.files == len(KINDS)


def test_missing_soundfont_names_its_path_and_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(midi.shutil, "which", lambda name: "/usr/bin/fluidsynth")
    missing = tmp_path / "nowhere" / "FluidR3_GM.sf2"
    with pytest.raises(SdaError) as caught:
        build_corpus(tmp_path / "corpus", quick=True, soundfont=missing)
    assert caught.value.path == missing
    assert str(missing) in str(caught.value) and "soundfont is missing" in str(caught.value)
    assert "apt-get install fluidsynth fluid-soundfont-gm" in str(caught.value)
    with pytest.raises(SdaError, match="soundfont is missing"):
        midi.check_fluidsynth(missing)
    assert not (tmp_path / "corpus").exists()


# --- resuming and atomic writes (sda's own synthesis: no fluidsynth needed) ----------------------------------


class _FailingWrites:
    """``soundfile`` whose ``write`` writes half a file and then raises ``error`` on call number ``fail_at``."""

    def __init__(self, fail_at: int, error: BaseException) -> None:
        self.calls = 0
        self.fail_at = fail_at
        self.error = error
        self.info = sf.info
        self.SoundFile = sf.SoundFile

    def write(self, path: str, audio: np.ndarray, rate: int, **kwargs: Any) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            Path(path).write_bytes(b"fLaC" + b"\0" * 100)  # half a file, then the crash
            raise self.error
        sf.write(path, audio, rate, **kwargs)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), OSError(28, "No space left on device")])
def test_an_interrupted_write_leaves_no_half_file_and_the_run_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      error: BaseException) -> None:
    out = tmp_path / "corpus"
    failing = _FailingWrites(3, error)
    monkeypatch.setattr(corpus, "sf", failing)
    with pytest.raises((KeyboardInterrupt, SdaError)):
        build_corpus(out, quick=True, sources=("synth",))
    monkeypatch.undo()
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != LOCK)
    plan = plan_corpus(quick=True, sources=("synth",))
    assert names == sorted([MANIFEST, plan[0].path, plan[1].path])  # no temporary file, no half third file
    manifest = read_manifest(out)
    assert manifest is not None and not manifest["complete"] and manifest["files_count"] == 2
    done = build_corpus(out, quick=True, sources=("synth",))
    assert (done.rendered, done.skipped) == (len(plan) - 2, 2)
    manifest = read_manifest(out)
    assert manifest is not None and manifest["complete"] and manifest["files_count"] == len(plan)


def test_a_killed_run_leaves_temporaries_that_the_next_run_removes(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    build_corpus(out, quick=True, sources=("synth",), limit=2)
    plan = plan_corpus(quick=True, sources=("synth",))
    leftover = (out / plan[2].path).parent / f".{Path(plan[2].path).stem}.abc123.tmp.flac"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"fLaC")  # what kill -9 in the middle of a write leaves
    (out / ".manifest.xyz.tmp.json").write_text("{")
    done = build_corpus(out, quick=True, sources=("synth",))
    assert done.skipped == 2 and done.files == len(plan)
    assert not leftover.exists() and not (out / ".manifest.xyz.tmp.json").exists()
    assert not [p for p in out.rglob(".*") if p.is_file() and p.name != LOCK]


def test_a_damaged_missing_or_changed_file_is_rendered_again(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    first = build_corpus(out, quick=True, sources=("synth",))
    plan = plan_corpus(quick=True, sources=("synth",))
    damaged = out / plan[1].path
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    (out / plan[4].path).unlink()
    again = build_corpus(out, quick=True, sources=("synth",))
    assert (again.rendered, again.skipped) == (2, first.files - 2)
    entry = next(e for e in json.loads((out / MANIFEST).read_text())["files"] if e["path"] == plan[1].path)
    assert sf.info(str(damaged)).frames == entry["frames"]
    other = build_corpus(out, quick=True, sources=("synth",), seed=1)
    assert (other.rendered, other.skipped) == (first.files, 0)  # same paths, other recipes: never reused


def test_an_earlier_corpus_in_the_folder_is_warned_about_not_removed(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    big = build_corpus(out, minutes=3.0, sources=("synth",), limit=9)
    assert big.rendered == 9
    events: list[ProgressEvent] = []
    build_corpus(out, quick=True, sources=("synth",), on_event=events.append)
    warnings = [e for e in events if e.kind == "warning"]
    assert len(warnings) == 1 and "2 file(s)" in warnings[0].message and "earlier corpus" in warnings[0].message
    assert len(list(out.rglob("*.flac"))) == 9  # nothing deleted
    manifest = read_manifest(out)
    assert manifest is not None and manifest["files_count"] == len(KINDS)


def test_cancel_stops_between_files_and_keeps_them(tmp_path: Path) -> None:
    token = CancelToken()

    def on_event(event: ProgressEvent) -> None:
        if event.kind == "progress" and event.step == 3:
            token.cancel()

    out = tmp_path / "corpus"
    with pytest.raises(Cancelled):
        build_corpus(out, quick=True, sources=("synth",), on_event=on_event, cancel=token)
    manifest = read_manifest(out)
    assert manifest is not None and manifest["files_count"] == 3 and not manifest["complete"]


# --- a quick corpus through fluidsynth -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    if not HAVE_FLUIDSYNTH:
        pytest.skip("needs fluidsynth and the Fluid R3 GM soundfont (sudo apt-get install fluidsynth "
                    "fluid-soundfont-gm)")
    out = tmp_path_factory.mktemp("base") / "reference"
    start = time.monotonic()
    build_corpus(out, quick=True)
    return out, time.monotonic() - start


@needs_fluidsynth
def test_quick_corpus_is_quick_and_complete(reference: tuple[Path, float]) -> None:
    out, seconds = reference
    assert seconds < 30  # about 3 s on one core
    manifest = read_manifest(out)
    assert manifest is not None and manifest["complete"]
    plan = plan_corpus(quick=True)
    assert [e["path"] for e in manifest["files"]] == [i.path for i in plan]
    assert manifest["files_by_source"] == dict(Counter(i.source for i in plan))
    assert set(manifest["licences"]) == {"gm", "gm_drums", "sda_synth"} and "MIT" in manifest["licences"]["gm"]
    assert manifest["sample_rate"] == 44100 and manifest["settings"]["command"] == "sda base corpus OUT/ --minutes " \
        "120 --seed 0 --quick"
    assert 10 < manifest["total_seconds"] < 40
    for entry in manifest["files"]:
        info = sf.info(str(out / entry["path"]))
        assert (info.samplerate, info.channels, info.format, info.subtype) == (44100, 1, "FLAC", "PCM_24")
        assert info.frames == entry["frames"]
        audio, _ = sf.read(str(out / entry["path"]))
        peak = float(np.max(np.abs(audio)))
        assert 10 ** (-40 / 20) < peak <= corpus.PEAK_LIMIT + 1e-4, entry["path"]
        if entry["source"] != "sda_synth":
            assert entry["decayed_below_60db"] and entry["render_tail"] in midi.TAILS
            assert midi.tail_db(audio) < -40  # trimmed after the decay, not cut off while sounding
    assert not [p for p in out.rglob(".*") if p.is_file() and p.name != LOCK]  # no temporary file left


@needs_fluidsynth
def test_same_seed_gives_identical_files(reference: tuple[Path, float], tmp_path: Path) -> None:
    out = tmp_path / "again"
    build_corpus(out, quick=True)
    assert _files(out) == _files(reference[0])  # every FLAC and the manifest, byte for byte


@needs_fluidsynth
def test_a_stopped_run_resumes_to_the_same_manifest(reference: tuple[Path, float], tmp_path: Path) -> None:
    out = tmp_path / "stopped"
    total = len(plan_corpus(quick=True))
    first = build_corpus(out, quick=True, limit=5)
    assert (first.rendered, first.skipped, first.files) == (5, 0, 5)
    manifest = read_manifest(out)
    assert manifest is not None and not manifest["complete"] and manifest["files_count"] == 5
    kept = _stamps(out)
    assert len(kept) == 5
    second = build_corpus(out, quick=True, limit=4)
    assert (second.rendered, second.skipped) == (4, 5)
    third = build_corpus(out, quick=True)
    assert (third.rendered, third.skipped, third.files) == (total - 9, 9, total)
    assert {k: v for k, v in _stamps(out).items() if k in kept} == kept  # finished files were not rendered again
    assert (out / MANIFEST).read_bytes() == (reference[0] / MANIFEST).read_bytes()
    assert _files(out) == _files(reference[0])
    rerun = build_corpus(out, quick=True)
    assert (rerun.rendered, rerun.skipped) == (0, total)


def test_a_second_build_into_the_same_folder_is_refused_while_one_runs(tmp_path: Path) -> None:
    from sda_engine.store.locks import folder_lock

    out = tmp_path / "corpus"
    with folder_lock(out, f"the corpus folder {out}", "built"):
        with pytest.raises(SdaError, match="being built by another job") as err:
            build_corpus(out, quick=True, sources=("synth",))
        assert err.value.path is not None and err.value.path.parent == out
    assert build_corpus(out, quick=True, sources=("synth",)).files > 0  # free again once the first is done
