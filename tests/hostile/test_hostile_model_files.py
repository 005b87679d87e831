"""Hostile ``.sda`` files: refused by the one check (``check_model_file``) before anything is built.

The memory bomb is the probe's file: a tiny real RVQ model whose metadata was rewritten to ask for a
``d_model=8192, ff_mult=16, n_layers=64`` prior, with two dummy tensors carrying those widths (so the old
"each width appears in some shape" check passed and the loader allocated 4 GB before comparing weights).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from sda_models.autoencoder import build_autoencoder
from sda_models.configs import AutoencoderConfig, PriorConfig
from sda_models.model_check import check_model_file
from sda_models.model_file import ModelBundle, load_model, read_metadata, save_model
from sda_models.model_format import ModelFileError, NewerFormatError
from sda_models.normalization import MelStats
from sda_models.prior import CodePrior
from sda_models.vocoders.hifigan import TINY_HIFIGAN, HifiGanGenerator, generator_tensors

LOADERS: tuple[Callable[[Path], Any], ...] = (check_model_file, read_metadata, load_model)


def tiny_bundle(vocoder: bool = False) -> ModelBundle:
    config = AutoencoderConfig(kind="rvq", channels=(8, 12, 16), latent_dim=8, res_blocks=1, kernel_size=3,
                               dilations=(1,), rvq_levels=2, codebook_size=16, codebook_dim=8)
    prior = CodePrior(PriorConfig(levels=2, codebook_size=16, d_model=16, n_layers=1, n_heads=2, ff_mult=2,
                                  context_frames=16))
    stats = MelStats(mean=torch.zeros(128) - 5, std=torch.ones(128))
    meta: dict[str, Any] = {"name": "tiny"}
    tensors = None
    if vocoder:
        tensors = generator_tensors(HifiGanGenerator(TINY_HIFIGAN))
        meta["vocoder"] = {"kind": "hifigan", "config": TINY_HIFIGAN.to_dict()}
    return ModelBundle(metadata=meta, autoencoder=build_autoencoder(config, seed=1), stats=stats, prior=prior,
                       vocoder_tensors=tensors)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "tiny.sda"
    save_model(path, tiny_bundle(vocoder=True))
    return path


def rewrite(source: Path, target: Path, tensors_edit: Callable[[dict[str, torch.Tensor]], None] | None = None,
            meta_edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Copy a model file with its tensors and/or its ``sda`` metadata edited, as a hostile tool would."""
    with safe_open(str(source), framework="pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        header = dict(handle.metadata())
    meta = json.loads(header["sda"])
    if tensors_edit is not None:
        tensors_edit(tensors)
    if meta_edit is not None:
        meta_edit(meta)
    save_file(tensors, str(target), metadata={**header, "sda": json.dumps(meta)})
    return target


def make_bomb(source: Path, target: Path) -> Path:
    def ask_for_a_huge_prior(meta: dict[str, Any]) -> None:
        meta["configs"]["prior"].update(d_model=8192, ff_mult=16, n_layers=64)

    def carry_the_widths(tensors: dict[str, torch.Tensor]) -> None:
        tensors["prior.dummy_width"] = torch.zeros(8192)
        tensors["prior.dummy_ff"] = torch.zeros(8192 * 16)

    return rewrite(source, target, carry_the_widths, ask_for_a_huge_prior)


def refused(path: Path, pattern: str, error: type[ModelFileError] = ModelFileError) -> None:
    for call in LOADERS:
        with pytest.raises(error, match=pattern) as info:
            call(path)
        assert str(path) in str(info.value), call.__name__
        assert not info.value.unexpected, f"{call.__name__}: only the last-resort guard caught it"


def test_a_valid_file_passes_the_one_check(tiny: Path) -> None:
    meta = check_model_file(tiny)
    assert meta["kind"] == "rvq" and meta["parts"] == {"prior": True, "vocoder": True, "control": False}
    assert read_metadata(tiny) == meta
    assert load_model(tiny).metadata == meta
    v1 = Path(__file__).resolve().parents[2] / "packages/sda-models/tests/fixtures/tiny_v1.sda"
    assert check_model_file(v1)["migrated_from"] == 1  # older formats: tensor names migrated, values read


def test_memory_bomb_is_refused_fast_without_allocating(tiny: Path, tmp_path: Path) -> None:
    """Measured in a fresh interpreter, after a warm-up load of the valid file (imports and PyTorch's first
    use excluded): the wall time of each call (without tracing, which slows Python several-fold), then, over
    all three calls again, the growth of the peak resident set (``ru_maxrss``: it sees PyTorch's C++
    allocations, which ``tracemalloc`` does not) and ``tracemalloc``'s Python-side peak."""
    bomb = make_bomb(tiny, tmp_path / "bomb.sda")
    assert bomb.stat().st_size < 2_000_000
    script = textwrap.dedent(f"""
        import json, resource, sys, time, tracemalloc
        from sda_models.model_check import check_model_file
        from sda_models.model_file import load_model, read_metadata
        from sda_models.model_format import ModelFileError
        load_model({str(tiny)!r}); check_model_file({str(tiny)!r})  # warm-up on the valid file
        scale = 1 if sys.platform.startswith("linux") else 1 / 1024  # ru_maxrss: KiB on Linux, bytes on macOS
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
        calls = (check_model_file, read_metadata, load_model)
        out = {{}}
        for call in calls:
            start = time.perf_counter()
            try:
                call({str(bomb)!r})
                message = None
            except ModelFileError as exc:
                message = str(exc)
            out[call.__name__] = {{"seconds": time.perf_counter() - start, "message": message}}
        tracemalloc.start()
        for call in calls:
            try:
                call({str(bomb)!r})
            except ModelFileError:
                pass
        out["python_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        out["rss_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale - base) / 1024
        print(json.dumps(out))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print("memory bomb:", {k: v if not isinstance(v, dict) else round(v["seconds"], 3) for k, v in result.items()})
    for name in ("check_model_file", "read_metadata", "load_model"):
        message = result[name]["message"]
        assert message is not None, f"{name} accepted the bomb"
        assert "the prior config (d_model=8192, n_layers=64, ff_mult=16" in message and "implies" in message
        assert str(bomb) in message
        assert result[name]["seconds"] < 1.0, result
    assert result["rss_growth_mb"] < 100, result
    assert result["python_peak_mb"] < 100, result


def test_unknown_format_versions_are_refused(tiny: Path, tmp_path: Path) -> None:
    future = rewrite(tiny, tmp_path / "v99.sda", meta_edit=lambda m: m.update(format_version=99))
    refused(future, r"newer sda \(format 99\)", NewerFormatError)
    for name, value in (("v0", 0), ("vstr", "2"), ("vnull", None), ("vfloat", 2.0)):
        path = rewrite(tiny, tmp_path / f"{name}.sda", meta_edit=lambda m, v=value: m.update(format_version=v))
        refused(path, "no valid format_version")


def test_nan_and_inf_weights_are_refused(tiny: Path, tmp_path: Path) -> None:
    def poison(name: str, value: float) -> Callable[[dict[str, torch.Tensor]], None]:
        def edit(tensors: dict[str, torch.Tensor]) -> None:
            tensors[name] = tensors[name].clone()
            tensors[name].view(-1)[0] = value
        return edit

    for i, (name, value) in enumerate((("prior.start", float("nan")), ("stats.std", float("inf")),
                                       ("vocoder.conv_pre.bias", float("-inf")))):
        path = rewrite(tiny, tmp_path / f"nan{i}.sda", tensors_edit=poison(name, value))
        with pytest.raises(ModelFileError, match=f"tensor {name} contains NaN or infinite"):
            check_model_file(path)
        with pytest.raises(ModelFileError, match=f"tensor {name} contains NaN or infinite"):
            load_model(path)
        assert check_model_file(path, values=False)["kind"] == "rvq"  # the header-only check cannot see values


@pytest.mark.parametrize("name", ["prior.extra", "autoencoder.encoder.extra", "vocoder.extra", "stats.extra",
                                  "control.extra", "extra"])
def test_unknown_extra_tensors_are_refused(tiny: Path, tmp_path: Path, name: str) -> None:
    path = rewrite(tiny, tmp_path / "extra.sda", tensors_edit=lambda t: t.update({name: torch.ones(2)}))
    section = name.split(".")[0]
    if section == "control":  # a section the metadata says is absent
        pattern = "part 'control' is absent but its tensors are present"
    elif section == "extra":
        pattern = "outside the known sections"
    else:
        pattern = f"the {section} weights do not match its config: unexpected 1 tensor"
    refused(path, pattern)


def test_a_vocoder_section_needs_a_known_layout(tiny: Path, tmp_path: Path) -> None:
    unknown = rewrite(tiny, tmp_path / "kind.sda", meta_edit=lambda m: m["vocoder"].update(kind="wavenet"))
    refused(unknown, "vocoder section is of an unknown kind 'wavenet'")
    bigger = rewrite(tiny, tmp_path / "wide.sda",
                     meta_edit=lambda m: m["vocoder"]["config"].update(upsample_initial_channel=8192))
    refused(bigger, r"the vocoder config \(upsample_initial_channel=8192\) implies")


def test_save_refuses_to_write_a_file_it_would_not_load(tmp_path: Path) -> None:
    bundle = tiny_bundle()
    bundle.vocoder_tensors = {"anything": torch.ones(3)}  # no vocoder config, no known layout
    with pytest.raises(ModelFileError, match="refusing to write a model file that would not load"):
        save_model(tmp_path / "x.sda", bundle)
    assert not (tmp_path / "x.sda").exists()
