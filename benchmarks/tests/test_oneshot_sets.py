"""The forms benchmark's synthetic one-shot sets: written, each file a one-shot, the same bytes every time."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _oneshot_sets as sets  # noqa: E402


@pytest.mark.parametrize("name", sets.SETS)
def test_set_is_written_as_oneshots_and_deterministic(name: str, tmp_path: Path) -> None:
    first = sets.write_set(name, tmp_path / "a")  # check=True: raises unless every file is detected as oneshot
    again = sets.write_set(name, tmp_path / "b", check=False)
    assert len(first) == 16
    assert [p.name for p in first] == [p.name for p in again]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, again, strict=True))
    info = sf.info(first[0])
    assert (info.samplerate, info.channels, info.subtype) == (44100, 1, "PCM_24")
    x, _ = sf.read(first[0])
    assert np.max(np.abs(x)) == pytest.approx(10 ** (-3 / 20), abs=0.01)
    assert np.mean(x[-4410:] == 0.0) < 0.05  # a recording floor, not digital silence


def test_unknown_set_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown one-shot set"):
        sets.render_set("tabla")
