"""The .sda model file: bit-exact round trips, format-1 migration, newer-format refusal, hostile files."""

from __future__ import annotations

import copy
import json
import random
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from sda_audio.errors import SdaError
from sda_models.autoencoder import build_autoencoder
from sda_models.configs import AutoencoderConfig, PriorConfig
from sda_models.model_file import (
    FORMAT_VERSION,
    ModelBundle,
    ModelFileError,
    NewerFormatError,
    load_model,
    read_metadata,
    save_model,
    upgrade_model_file,
)
from sda_models.normalization import MelStats
from sda_models.prior import CodePrior
from sda_models.vocoders.hifigan import TINY_HIFIGAN, HifiGanGenerator, generator_tensors

FIXTURES = Path(__file__).resolve().parent / "fixtures"
V1_FIXTURE = FIXTURES / "tiny_v1.sda"


def make_bundle(kind: str, prior: bool = False, extras: bool = False) -> ModelBundle:
    config = AutoencoderConfig(kind=kind, channels=(8, 12, 16), latent_dim=8, res_blocks=1, kernel_size=3,
                               dilations=(1,), rvq_levels=2, codebook_size=16, codebook_dim=8)
    autoencoder = build_autoencoder(config, seed=3)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():  # weights and buffers away from their initial values
        for tensor in autoencoder.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.01 * torch.randn(tensor.shape, generator=gen))
    stats = MelStats(mean=torch.randn(128, generator=gen) - 5, std=torch.rand(128, generator=gen) + 0.5)
    code_prior = None
    if prior:
        torch.manual_seed(1)
        code_prior = CodePrior(PriorConfig(levels=2, codebook_size=16, d_model=16, n_layers=1, n_heads=2,
                                           ff_mult=2, context_frames=16))
    meta = {"name": f"test-{kind}", "dataset": {"files": 7, "total_duration": 31.5, "hashes": ["ab" * 32]},
            "training": {"steps": 120, "lr": 1e-3, "nan_metric": float("nan")},
            "metrics": {"val_loss": 0.5}, "configs": {"training": {"lr": 0.001, "betas": (0.9, 0.99)}}}
    vocoder = control = None
    if extras:  # the real layouts: a (tiny) HiFi-GAN generator and a slider mapping of 8 controls
        torch.manual_seed(2)
        vocoder = generator_tensors(HifiGanGenerator(TINY_HIFIGAN))
        meta["vocoder"] = {"kind": "hifigan", "config": TINY_HIFIGAN.to_dict()}
        control = control_section(config.latent_dim, gen)
        meta["configs"]["control"] = {"version": 1, "names": ["c"] * 8}
    return ModelBundle(metadata=meta, autoencoder=autoencoder, stats=stats, prior=code_prior,
                       vocoder_tensors=vocoder, control_tensors=control)


def control_section(latent_dim: int, gen: torch.Generator, k: int = 8, m: int = 8, e: int = 3) -> dict[str, torch.Tensor]:
    """A ``control.*`` section with the layout ``sda_control.fit`` writes (random values)."""
    shapes = {"latent_mean": (latent_dim,), "directions": (k, latent_dim), "readouts": (k, latent_dim),
              "range_lo": (k,), "range_hi": (k,), "clamp_lo": (k,), "clamp_hi": (k,), "descriptor_mean": (m,),
              "descriptor_std": (m,), "explore_axes": (e, latent_dim), "explore_lo": (e,), "explore_hi": (e,)}
    return {name: torch.randn(shape, generator=gen) for name, shape in shapes.items()}


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert set(a) == set(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key].cpu(), b[key].cpu()), key


@pytest.mark.parametrize("kind,prior,extras", [("vae", False, False), ("rvq", True, True)])
def test_round_trip_is_bit_exact(tmp_path: Path, kind: str, prior: bool, extras: bool) -> None:
    bundle = make_bundle(kind, prior, extras)
    path = tmp_path / "model.sda"
    written = save_model(path, bundle)
    assert list(tmp_path.iterdir()) == [path]  # atomic: no temp files left behind
    loaded = load_model(path)
    assert loaded.metadata == written
    assert read_metadata(path) == written
    assert written["format_version"] == FORMAT_VERSION and written["kind"] == kind
    assert written["parts"] == {"prior": prior, "vocoder": extras, "control": extras}
    assert written["training"]["nan_metric"] is None and written["dataset"]["files"] == 7
    assert written["configs"]["autoencoder"] == bundle.autoencoder.config.to_dict()
    assert "torch" in written["versions"] and written["created"]
    assert_same_tensors(bundle.autoencoder.state_dict(), loaded.autoencoder.state_dict())
    assert_same_tensors(bundle.stats.to_tensors(), loaded.stats.to_tensors())
    assert not loaded.autoencoder.training
    if prior:
        assert loaded.prior is not None and not loaded.prior.training
        assert loaded.prior.config == bundle.prior.config
        assert_same_tensors(bundle.prior.state_dict(), loaded.prior.state_dict())
    else:
        assert loaded.prior is None
    if extras:
        assert_same_tensors(bundle.vocoder_tensors, loaded.vocoder_tensors)
        assert_same_tensors(bundle.control_tensors, loaded.control_tensors)
    mel = torch.randn(1, 128, 16, generator=torch.Generator().manual_seed(0))
    bundle.autoencoder.eval()
    with torch.no_grad():
        assert torch.equal(bundle.autoencoder.decode(bundle.autoencoder.encode(mel)),
                           loaded.autoencoder.decode(loaded.autoencoder.encode(mel)))


def v1_original() -> tuple[Any, dict[str, torch.Tensor]]:
    """The fixture's autoencoder rebuilt by hand from its raw format-1 tensors (no migration code involved)."""
    config = AutoencoderConfig(kind="vae", channels=(16, 16, 16), latent_dim=8, downsample=4, res_blocks=1,
                               dilations=(1,), kernel_size=3, dropout=0.0, norm="group", activation="gelu",
                               kl_weight=0.01, free_bits=1.0)
    with safe_open(str(V1_FIXTURE), framework="pt") as handle:
        raw = {k: handle.get_tensor(k) for k in handle.keys()}
    model = build_autoencoder(config, seed=99)
    model.load_state_dict({k[len("model."):]: v for k, v in raw.items() if k.startswith("model.")}, strict=True)
    return model.eval(), raw


def test_v1_fixture_loads_and_decodes_like_the_original() -> None:
    assert V1_FIXTURE.stat().st_size < 200_000
    meta = read_metadata(V1_FIXTURE)
    assert meta["format_version"] == FORMAT_VERSION and meta["migrated_from"] == 1
    assert meta["kind"] == "vae" and meta["parts"] == {"prior": False, "vocoder": False, "control": False}
    assert meta["dataset"]["files"] == 3 and meta["training"]["epochs"] == 5
    assert meta["configs"]["mel"]["hop_length"] == 512
    bundle = load_model(V1_FIXTURE)
    original, raw = v1_original()
    assert torch.equal(bundle.stats.mean, raw["mel_mean"]) and torch.equal(bundle.stats.std, raw["mel_std"])
    gen = torch.Generator().manual_seed(1)
    latent = torch.randn(2, 8, 6, generator=gen)
    mel = torch.randn(1, 128, 24, generator=gen)
    with torch.no_grad():
        assert torch.equal(bundle.autoencoder.decode(latent), original.decode(latent))
        assert torch.equal(bundle.autoencoder.encode(mel), original.encode(mel))


def test_upgrade_rewrites_v1_and_keeps_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "old.sda"
    shutil.copyfile(V1_FIXTURE, path)
    other = tmp_path / "new.sda"
    assert upgrade_model_file(path, out=other) == other
    assert path.read_bytes() == V1_FIXTURE.read_bytes() and not list(tmp_path.glob("*.bak"))
    assert upgrade_model_file(path) == path
    backup = tmp_path / "old.sda.v1.bak"
    assert backup.read_bytes() == V1_FIXTURE.read_bytes()
    with safe_open(str(path), framework="pt") as handle:
        on_disk = json.loads(handle.metadata()["sda"])
    assert on_disk["format_version"] == FORMAT_VERSION and on_disk["migrated_from"] == 1
    original, _ = v1_original()
    assert_same_tensors(original.state_dict(), load_model(path).autoencoder.state_dict())
    assert upgrade_model_file(path) is None  # already current
    path.unlink()
    shutil.copyfile(V1_FIXTURE, path)
    upgrade_model_file(path, keep_backup=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.sda", "old.sda", "old.sda.v1.bak"]


# ---- helpers to take a file apart and put it back together -------------------------------------------

def split_file(path: Path) -> tuple[dict[str, Any], bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def join_file(path: Path, header: dict[str, Any], data: bytes) -> Path:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def edit_meta(header: dict[str, Any], edit) -> dict[str, Any]:
    header = copy.deepcopy(header)
    meta = json.loads(header["__metadata__"]["sda"])
    edit(meta)
    header["__metadata__"]["sda"] = json.dumps(meta)
    return header


@pytest.fixture(scope="module")
def saved_rvq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rvq") / "rvq.sda"
    save_model(path, make_bundle("rvq", prior=True, extras=True))
    return path


def test_newer_format_is_refused_with_upgrade_advice(saved_rvq: Path, tmp_path: Path) -> None:
    header, data = split_file(saved_rvq)
    path = join_file(tmp_path / "future.sda", edit_meta(header, lambda m: m.update(format_version=3)), data)
    for call in (read_metadata, load_model, upgrade_model_file):
        with pytest.raises(NewerFormatError, match=r"newer sda \(format 3\).*upgrade sda") as info:
            call(path)
        assert str(path) in str(info.value)


def expect_error(path: Path, pattern: str) -> None:
    with pytest.raises(ModelFileError, match=pattern) as info:
        load_model(path)
    assert str(path) in str(info.value) and not info.value.unexpected


def test_specific_problems_get_specific_messages(saved_rvq: Path, tmp_path: Path) -> None:
    header, data = split_file(saved_rvq)
    raw = saved_rvq.read_bytes()
    expect_error(tmp_path / "missing.sda", "not found")
    (tmp_path / "short.sda").write_bytes(b"abc")
    expect_error(tmp_path / "short.sda", "too short")
    (tmp_path / "trunc.sda").write_bytes(raw[: len(raw) - 100])
    expect_error(tmp_path / "trunc.sda", "truncated")
    (tmp_path / "huge.sda").write_bytes(struct.pack("<Q", 2**62) + raw[8:])
    expect_error(tmp_path / "huge.sda", "header claims")
    (tmp_path / "text.sda").write_bytes(struct.pack("<Q", 5) + b"hello" + b"x" * 10)
    expect_error(tmp_path / "text.sda", "not valid JSON")
    plain = tmp_path / "plain.sda"
    save_file({"x": torch.zeros(3)}, str(plain))
    expect_error(plain, "no sda metadata")
    expect_error(join_file(tmp_path / "list.sda", {**header, "__metadata__": {"sda": "[1, 2]"}}, data),
                 "not an object")
    key = "autoencoder.decoder." + next(k.split("autoencoder.decoder.", 1)[1] for k in header
                                         if k.startswith("autoencoder.decoder.") and k.endswith("weight"))
    wrong_shape = copy.deepcopy(header)
    wrong_shape[key]["shape"] = wrong_shape[key]["shape"][::-1] + [1]
    expect_error(join_file(tmp_path / "shape.sda", wrong_shape, data), "declares shape|has shape")
    no_config = edit_meta(header, lambda m: m["configs"].pop("autoencoder"))
    expect_error(join_file(tmp_path / "noconf.sda", no_config, data), "autoencoder config is missing")
    bigger = edit_meta(header, lambda m: m["configs"]["autoencoder"].update(latent_dim=9))
    expect_error(join_file(tmp_path / "cfg.sda", bigger, data), "do not match its config: missing 4")
    deeper = edit_meta(header, lambda m: m["configs"]["autoencoder"].update(res_blocks=2))
    expect_error(join_file(tmp_path / "deeper.sda", deeper, data), "do not match its config: missing")
    absurd = edit_meta(header, lambda m: m["configs"]["autoencoder"].update(channels=[10**9, 12, 16]))
    expect_error(join_file(tmp_path / "absurd.sda", absurd, data), "implausible")
    wide = edit_meta(header, lambda m: m["configs"]["prior"].update(d_model=4096, n_layers=60))
    expect_error(join_file(tmp_path / "wide.sda", wide, data), r"the prior config \(d_model=4096, n_layers=60.*implies")
    huge = edit_meta(header, lambda m: m["configs"]["autoencoder"].update(channels=[4096, 4096, 4096]))
    expect_error(join_file(tmp_path / "huge.sda", huge, data), r"the autoencoder config \(channels=\[4096.*implies")
    no_prior = edit_meta(header, lambda m: m["parts"].update(prior=False))
    expect_error(join_file(tmp_path / "parts.sda", no_prior, data), "part 'prior'")


def rewrite_tensors(path: Path, source: Path, change) -> Path:
    with safe_open(str(source), framework="pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        metadata = handle.metadata()
    change(tensors)
    save_file(tensors, str(path), metadata=metadata)
    return path


def test_missing_unexpected_wrong_dtype_and_nan_tensors(saved_rvq: Path, tmp_path: Path) -> None:
    first_prior = next(k for k in split_file(saved_rvq)[0] if k.startswith("prior."))
    expect_error(rewrite_tensors(tmp_path / "a.sda", saved_rvq, lambda t: t.pop(first_prior)), "missing 1")
    expect_error(rewrite_tensors(tmp_path / "b.sda", saved_rvq, lambda t: t.update({"prior.extra": torch.ones(2)})),
                 "unexpected 1")
    expect_error(rewrite_tensors(tmp_path / "c.sda", saved_rvq, lambda t: t.update({"bogus.x": torch.ones(2)})),
                 "outside the known sections")
    expect_error(rewrite_tensors(tmp_path / "d.sda", saved_rvq,
                                 lambda t: t.update({first_prior: t[first_prior].double()})), "dtype")
    expect_error(rewrite_tensors(tmp_path / "e.sda", saved_rvq,
                                 lambda t: t[first_prior].view(-1).__setitem__(0, float("nan"))), "NaN")
    expect_error(rewrite_tensors(tmp_path / "f.sda", saved_rvq, lambda t: t.pop("stats.std")), "stats")


def mutate(header: dict[str, Any], data: bytes, raw: bytes, rng: random.Random) -> bytes:
    """One random corruption of a model file's bytes."""
    choice = rng.randrange(9)
    if choice == 0:  # flip a few bytes anywhere
        out = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)
    if choice == 1:  # flip a byte inside the JSON header
        out = bytearray(raw)
        out[8 + rng.randrange(len(raw) - len(data) - 8)] = rng.randrange(256)
        return bytes(out)
    if choice == 2:  # truncate
        return raw[: rng.randrange(len(raw))]
    if choice == 3:  # insert garbage
        at = rng.randrange(len(raw))
        return raw[:at] + rng.randbytes(rng.randint(1, 64)) + raw[at:]
    if choice == 4:  # a random header length
        return struct.pack("<Q", rng.choice([0, 1, 2**64 - 1, rng.randrange(2**40), rng.randrange(len(raw))])) + raw[8:]
    h = copy.deepcopy(header)
    names = [k for k in h if k != "__metadata__"]
    name = rng.choice(names)
    if choice == 5:  # tensor entry edits
        entry = h[name]
        field = rng.choice(["shape", "dtype", "data_offsets", "drop", "add"])
        if field == "shape":
            entry["shape"] = rng.choice([[], [2**50, 2**50], [-1], ["a"], entry["shape"] + [1],
                                         entry["shape"][::-1], [True], None, [2**63]])
        elif field == "dtype":
            entry["dtype"] = rng.choice(["F16", "F64", "I64", "BF16", "U8", "BOOL", "X", 3, "F8_E4M3"])
        elif field == "data_offsets":
            start, end = entry["data_offsets"]
            entry["data_offsets"] = rng.choice([[end, start], [start, end + 4], [start - 4, end - 4],
                                                [0, 2**62], [start], "x", [start + 0.5, end]])
        elif field == "drop":
            del h[name]
        else:
            h["garbage." + name] = dict(entry)
        return struct.pack("<Q", len(json.dumps(h))) + json.dumps(h).encode() + data
    if choice == 6:  # sda metadata replaced wholesale
        h["__metadata__"]["sda"] = rng.choice(["{", "null", "[]", "3", '"x"', "[" * 100000 + "]" * 100000,
                                               '{"format_version": "2"}', '{"format_version": 1}', "{}"])
        return struct.pack("<Q", len(json.dumps(h))) + json.dumps(h).encode() + data
    if choice == 7:  # __metadata__ itself malformed
        h["__metadata__"] = rng.choice([None, [], {"sda": 5}, "x", {"sda": None}])
        return struct.pack("<Q", len(json.dumps(h))) + json.dumps(h).encode() + data

    def edit(meta: dict[str, Any]) -> None:  # choice 8: edits inside the sda metadata
        section = rng.choice(["autoencoder", "prior", "mel", "top", "parts"])
        value = rng.choice([None, -1, 0, 1, 3, 10**12, 1e308, "x", [], {}, [1, 2], True, 2.5])
        if section == "top":
            meta[rng.choice(["kind", "configs", "parts", "format_version"])] = value
        elif section == "parts":
            meta["parts"][rng.choice(["prior", "vocoder", "control"])] = value
        else:
            target = meta["configs"][section]
            key = rng.choice(sorted(target))
            if rng.random() < 0.2:
                del target[key]
            else:
                target[key] = value

    h = edit_meta(h, edit)
    return struct.pack("<Q", len(json.dumps(h))) + json.dumps(h).encode() + data


def test_fuzzed_files_raise_only_model_file_errors(saved_rvq: Path, tmp_path: Path) -> None:
    header, data = split_file(saved_rvq)
    raw = saved_rvq.read_bytes()
    rng = random.Random(20240601)
    outcomes = {"ok": 0, "error": 0}
    for i in range(300):
        path = tmp_path / f"fuzz{i % 4}.sda"
        path.write_bytes(mutate(header, data, raw, rng))
        try:
            read_metadata(path)
            load_model(path)
            outcomes["ok"] += 1
        except ModelFileError as exc:
            assert not exc.unexpected, f"mutation {i}: only the last-resort guard caught: {exc}"
            assert str(path) in str(exc)
            outcomes["error"] += 1
        except SdaError as exc:  # pragma: no cover - shows what leaked
            pytest.fail(f"mutation {i}: {type(exc).__name__} instead of ModelFileError: {exc}")
    assert outcomes["error"] > 150 and outcomes["ok"] > 10, outcomes


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")
def test_load_onto_cuda(saved_rvq: Path) -> None:
    bundle = load_model(saved_rvq, device="cuda")
    assert next(bundle.autoencoder.parameters()).is_cuda and next(bundle.prior.parameters()).is_cuda
    assert bundle.stats.mean.is_cuda and not bundle.autoencoder.training
