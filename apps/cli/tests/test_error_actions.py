"""Every engine remedy (``SdaError.action``) has a CLI spelling, and the CLI appends it to the error line."""

from __future__ import annotations

from sda_audio.errors import ACTIONS, SdaError
from sda_cli.errors import CLI_ACTIONS, error_text


def test_every_action_has_a_cli_spelling() -> None:
    assert set(CLI_ACTIONS) == set(ACTIONS)


def test_the_vocoder_remedies_name_the_cli_commands() -> None:
    from sda_models.vocoders.select import select_vocoder

    try:
        select_vocoder("hifigan", device="cpu")
    except SdaError as exc:
        text = error_text(exc)
    else:  # pragma: no cover - a model without a HiFi-GAN must not get one
        raise AssertionError("select_vocoder('hifigan') without a vocoder did not fail")
    assert "train the model's own vocoder" in text and "`sda train-vocoder MODEL`" in text
