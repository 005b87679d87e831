"""TrainOptions: partial, JSON-serialisable, validated with clear words; the Stage base class's registered state."""

from __future__ import annotations

import json

import pytest
import torch

from sda_audio.errors import SdaError
from sda_engine.train import TorchStage, TrainOptions
from sda_engine.train.checkpoints import Checkpoint
from sda_engine.train.options import DEFAULTS


def test_options_are_partial_and_round_trip_through_json() -> None:
    empty = TrainOptions()
    assert empty.to_dict() == {} and empty.get("kind") == "rvq" and empty.get("size") == "auto"
    assert empty.get("steps") is None  # the plan's choice (the size's step count)
    options = TrainOptions(name="m", dataset=["a.wav", "b.wav"], add=("c.wav",), kind="vae", size="tiny",
                           max_minutes=3, steps=40.0, rvq_levels=3, codebook_size=128, seed=2, controls=False)
    assert options.dataset == ("a.wav", "b.wav") and options.steps == 40 and options.max_minutes == 3.0
    assert options.rvq == {"rvq_levels": 3, "codebook_size": 128}
    again = TrainOptions.from_dict(json.loads(json.dumps(options.to_dict())))
    assert again == options and again.replace(seed=5).seed == 5
    assert set(DEFAULTS) <= {f for f in options.__dataclass_fields__}


@pytest.mark.parametrize(("changes", "words"), [
    ({"kind": "gan"}, "unknown model kind 'gan'"),
    ({"size": "huge"}, "unknown model size 'huge'"),
    ({"name": "a/b"}, "not a usable model name"),
    ({"steps": 0}, "steps must be at least 1"),
    ({"steps": 2.5}, "steps must be a whole number"),
    ({"max_minutes": 0}, "cannot use 0 minutes for the time budget"),
    ({"vocoder_minutes": -1}, "cannot use -1 minutes for the vocoder's minutes"),
    ({"controls": "yes"}, "controls must be true or false"),
])
def test_bad_options_are_refused_in_plain_words(changes: dict, words: str) -> None:
    with pytest.raises(SdaError, match=words.replace("(", r"\(")):
        TrainOptions(**changes)


def test_unknown_option_keys_are_an_error() -> None:
    with pytest.raises(SdaError, match="unknown training option"):
        TrainOptions.from_dict({"name": "m", "presets": "tiny"})


class _Toy(TorchStage):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(3, 2)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=0.01)
        self.sampler = torch.Generator().manual_seed(4)
        self.seen: list[str] = []
        self.register_stateful("net", self.net)
        self.register_best_state("net")
        self.register_stateful("optim.net", self.opt)
        self.register_rng(self.sampler)
        self.register_meta("seen", lambda: list(self.seen), self._set_seen)

    def _set_seen(self, value: list[str]) -> None:
        self.seen = list(value)

    def train_step(self, step: int) -> dict[str, float]:
        self.step = step
        x = torch.randn(4, 3, generator=self.sampler)
        loss = self.net(x).pow(2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.seen.append(f"step{step}")
        return {"loss": float(loss.detach())}


def test_registered_state_gives_checkpoints_best_weights_and_exact_resume() -> None:
    torch.manual_seed(0)
    a = _Toy()
    for step in (1, 2):
        a.train_step(step)
    ckpt = Checkpoint(step=2, stage="autoencoder")
    a.save(ckpt)
    assert {"model.net.weight", "rng.torch_cpu", "rng.sampler"} <= set(ckpt.tensors)
    assert "optim.net" in ckpt.meta["states"] and ckpt.meta["seen"] == ["step1", "step2"]
    best = a.snapshot_best()
    assert best is not None and set(best) == {"weight", "bias"}  # one best module: its own keys
    straight = [a.train_step(step)["loss"] for step in (3, 4)]

    torch.manual_seed(123)
    b = _Toy()
    b.load(ckpt)
    assert b.step == 2 and b.seen == ["step1", "step2"] and b.current_lr() == pytest.approx(0.01)
    assert [b.train_step(step)["loss"] for step in (3, 4)] == straight
    b.restore_best(best)
    assert torch.equal(b.net.weight, best["weight"])
    with pytest.raises(ValueError, match="registered twice"):
        b.register_rng(None)
