"""Checkpoints: safetensors + JSON, optimizer flattening, RNG capture, pruning, best."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from sda_engine.train.checkpoints import (
    Checkpoint,
    CheckpointManager,
    capture_module_extras,
    capture_rng,
    restore_module_extras,
    restore_rng,
)


def _model_and_opt(seed: int = 0) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    return model, torch.optim.AdamW(model.parameters(), lr=1e-2)


def _step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor) -> float:
    opt.zero_grad()
    loss = model(x).pow(2).mean()
    loss.backward()
    opt.step()
    return float(loss.detach())


def test_optimizer_state_roundtrip_continues_identically(tmp_path: Path) -> None:
    model, opt = _model_and_opt()
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        _step(model, opt, x)
    ckpt = Checkpoint(step=3, stage="autoencoder")
    ckpt.put_module("net", model)
    ckpt.put_state("optim", opt.state_dict())
    manager = CheckpointManager(tmp_path)
    path = manager.save(ckpt)
    assert path.suffix == ".json" and path.with_suffix(".safetensors").is_file()
    assert "optim" in json.loads(path.read_text())["states"]

    loaded = manager.load(path)
    model2, opt2 = _model_and_opt(seed=99)
    model2.load_state_dict(loaded.module_state("net"))
    opt2.load_state_dict(loaded.get_state("optim"))
    assert [_step(model, opt, x) for _ in range(3)] == [_step(model2, opt2, x) for _ in range(3)]


def test_rng_states_are_restored(tmp_path: Path) -> None:
    sampler = torch.Generator().manual_seed(7)
    torch.manual_seed(11)
    ckpt = Checkpoint(step=1, stage="prior")
    capture_rng(ckpt, sampler)
    expected = (torch.rand(3), torch.rand(3, generator=sampler))
    torch.manual_seed(0)
    sampler.manual_seed(0)
    manager = CheckpointManager(tmp_path)
    restore_rng(manager.load(manager.save(ckpt)), sampler)
    assert torch.equal(torch.rand(3), expected[0])
    assert torch.equal(torch.rand(3, generator=sampler), expected[1])
    assert ckpt.tensors["rng.torch_cpu"].dtype == torch.uint8


def test_module_generators_and_reservoirs_are_kept() -> None:
    from sda_models.rvq import EMAQuantizer

    q = EMAQuantizer(8, 4, seed=3)
    q.train()
    q(torch.randn(32, 4))
    ckpt = Checkpoint(step=1, stage="autoencoder")
    ckpt.put_module("q", q)
    capture_module_extras(ckpt, "q", q)
    after = torch.randint(0, 100, (5,), generator=q.generator)
    q2 = EMAQuantizer(8, 4, seed=3)
    q2.load_state_dict(ckpt.module_state("q"))
    restore_module_extras(ckpt, "q", q2)
    assert torch.equal(torch.randint(0, 100, (5,), generator=q2.generator), after)
    assert torch.equal(q2.samples, q.samples) and q2._write_pos == q._write_pos


def test_keeps_last_k_and_the_best(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, keep=2)
    metrics = [5.0, 1.0, 3.0, 4.0, 6.0]
    for step, metric in enumerate(metrics, start=1):
        ckpt = Checkpoint(step=step, stage="autoencoder", tensors={"w": torch.full((2,), float(step))})
        manager.save(ckpt, metric=metric)
    names = [p.name for p in manager.list()]
    assert names == ["autoencoder-00000002.json", "autoencoder-00000004.json", "autoencoder-00000005.json"]
    best = manager.load_best()
    assert best is not None and best.step == 2
    latest = manager.load_latest()
    assert latest is not None and latest.step == 5 and latest.meta["metric"] == 6.0


def test_a_checkpoint_without_its_json_is_ignored(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path)
    manager.save(Checkpoint(step=1, stage="autoencoder", tensors={"w": torch.zeros(1)}))
    # a crash between the tensor file and the JSON leaves an orphan tensor file
    (tmp_path / "autoencoder-00000002.safetensors").write_bytes(b"partial")
    latest = manager.load_latest()
    assert latest is not None and latest.step == 1


def test_prior_stage_sorts_after_autoencoder(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, keep=5)
    manager.save(Checkpoint(step=300, stage="autoencoder", tensors={"w": torch.zeros(1)}))
    manager.save(Checkpoint(step=2, stage="prior", tensors={"w": torch.zeros(1)}))
    latest = manager.load_latest()
    assert latest is not None and latest.stage == "prior"
