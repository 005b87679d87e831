"""A full disk while writing safetensors, and the one rule for dataset, model and preset names."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError

from sda_audio.atomic import atomic_path, is_disk_full
from sda_audio.errors import SdaError
from sda_audio.names import InvalidNameError, validate_name
from sda_models import model_file
from sda_models.autoencoder import build_autoencoder
from sda_models.configs import AutoencoderConfig
from sda_models.model_file import ModelBundle, save_model
from sda_models.normalization import MelStats

# what safetensors raises when the disk fills (``format!("Error while serializing: {e:?}")`` of an io::Error)
SAFETENSORS_ENOSPC = ('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                      'message: "No space left on device" })')


def test_disk_full_while_saving_a_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(tensors: dict[str, torch.Tensor], filename: str, metadata: dict[str, str] | None = None) -> None:
        Path(filename).write_bytes(b"partial")
        raise SafetensorError(SAFETENSORS_ENOSPC)

    monkeypatch.setattr(model_file, "save_file", full_disk)
    config = AutoencoderConfig(kind="vae", channels=(8, 8, 8), latent_dim=4, res_blocks=1, kernel_size=3, dilations=(1,))
    bundle = ModelBundle(metadata={}, autoencoder=build_autoencoder(config),
                         stats=MelStats(mean=torch.zeros(128), std=torch.ones(128)))
    target = tmp_path / "models" / "m.sda"
    with pytest.raises(SdaError, match="the disk is full; nothing was written") as info:
        save_model(target, bundle)
    assert type(info.value) is SdaError and info.value.path == target and "free some space" in str(info.value)
    assert str(target.parent) in str(info.value)
    assert list(target.parent.iterdir()) == []  # no half-written temp file left behind


@pytest.mark.parametrize("exc", [
    SafetensorError(SAFETENSORS_ENOSPC),
    OSError(errno.ENOSPC, "No space left on device"),
    OSError(errno.EDQUOT, "Disk quota exceeded"),
    RuntimeError("Error writing 'x.wav': System error : No space left on device."),  # libsndfile's wording
])
def test_atomic_writes_turn_every_disk_full_into_one_message(tmp_path: Path, exc: Exception) -> None:
    assert is_disk_full(exc)
    with pytest.raises(SdaError, match="the disk is full"):
        with atomic_path(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"x")
            raise exc
    assert list(tmp_path.iterdir()) == []


def test_other_write_errors_are_not_called_a_full_disk(tmp_path: Path) -> None:
    assert not is_disk_full(SafetensorError("Error while serializing: InvalidOffset"))
    with pytest.raises(SafetensorError):
        with atomic_path(tmp_path / "out.bin"):
            raise SafetensorError("Error while serializing: InvalidOffset")


@pytest.mark.parametrize("name,problem", [
    ("drums\nrm -rf /", "contains a newline"),
    ("a\tb", "contains a tab"),
    ("bell\x07", "U+0007"),
    ("evil\u202etxt", "U+202E"),  # right-to-left override: a name that displays differently from what it is
    ("no\u00a0break", "U+00A0"),
    ("../../etc/x", "contains '/'"),
    ("a\\b", "contains '\\\\'"),
    ("..", "contains '..'"),
    ("a..b", "contains '..'"),
    ("-rf", "starts with '-'"),
    (".hidden", "starts with '.'"),
    ("name.", "ends with '.'"),
    ("model.sda", "ends with '.sda'"),
    ("CON", "reserved device name"),
    ("nul.txt", "reserved device name"),
    ("", "is empty"),
    ("   ", "is empty"),
    ("x" * 81, "too long"),
    ("é" * 81, "too long"),
    ("a:b", "contains ':'"),
])
def test_names_that_break_the_rule(name: str, problem: str) -> None:
    for what in ("dataset", "model", "preset"):
        with pytest.raises(InvalidNameError, match=re.escape(problem)) as info:
            validate_name(name, what)
        assert f"not a usable {what} name" in str(info.value)
        assert "\n" not in str(info.value)  # the message is one line even for a name with a newline


def test_padded_names_are_refused_with_the_trimmed_suggestion() -> None:
    with pytest.raises(InvalidNameError, match=r"spaces at its start or end \(did you mean 'padded'\?\)"):
        validate_name(" padded ", "dataset")
    with pytest.raises(InvalidNameError, match="spaces at its start or end"):
        validate_name(" -rf")  # the trimmed form would be refused too, so no suggestion
    assert issubclass(InvalidNameError, SdaError) and issubclass(InvalidNameError, ValueError)


@pytest.mark.parametrize("name", ["drums", "Field Recordings 2024", "my_model-v2.1", "Café Ñandú", "ドラム", "a",
                                  "x" * 80])
def test_good_names_pass_unchanged(name: str) -> None:
    assert validate_name(name) == name


def test_names_are_returned_in_nfc_form() -> None:
    decomposed = "Cafe\u0301"  # what macOS may hand over for "Café"
    assert validate_name(decomposed) == "Caf\u00e9"
