"""Record golden fixtures of the engine's behaviour at a fixed commit (bb7ebfe), for tests/golden/test_golden.py.

Run with the code whose behaviour is to be frozen installed (one torch thread, CPU)::

    cd /work/golden-base && uv sync --frozen --all-packages
    uv run python tests/golden/make_fixtures.py --force   # ~3 min of CPU on one core (refuses without --force
                                                          # when fixtures/golden.json exists)

It trains two tiny models through the real CLI (``sda train``, a subprocess of this venv's ``sda``) on a dataset
synthesised here with a seeded numpy rng (no sda code involved), then records into ``fixtures/``:

- ``golden_rvq.sda`` / ``golden_vae.sda`` and their corpus index (one file, ``golden_dataset.corpus.safetensors``:
  both models index the same dataset; the test copies it beside each model as ``NAME.corpus.safetensors``, where
  ``sda generate MODEL.sda`` looks for it: ``--vocoder auto`` on an offline machine without BigVGAN weights is
  the corpus vocoder);
- ``golden.json``: the dataset's sample hashes, every command, the sha256 of each tensor of each model file,
  for every generation case the files written with the sha256 of their decoded sample array plus
  frames/rate/channels/subtype, the code-grid round trip, and the tensor hashes of each model retrained straight
  without controls (also the target of the test's cancel -> resume run);
- ``sidecars/<case>/<file>.json``: the full sidecar of every written file.

The definitions below (dataset, commands, cases) are the single source of truth: the test imports this file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
GOLDEN_JSON = FIXTURES / "golden.json"
BASE_COMMIT = "bb7ebfe"

# ---------------------------------------------------------------------------------------------- dataset
DATASET_FILES = 6


def make_dataset(folder: Path) -> Path:
    """Six short takes (1.0-1.75 s) of enveloped harmonic tones plus a little noise; take5 is stereo 48 kHz
    (the loader resamples/downmixes it). Seeded numpy + soundfile only: identical on every machine."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240607)
    for i in range(DATASET_FILES):
        sr = 48000 if i == 5 else 44100
        t = np.arange(int(sr * (1.0 + 0.15 * i))) / sr
        f0 = 110.0 * (1 + i % 3) * (1.5 if i >= 3 else 1.0)
        env = 0.55 + 0.45 * np.sin(2 * np.pi * (1.5 + i) * t)
        x = sum((0.3 / k) * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) for k in (1, 2, 3))
        x = x * env + 0.01 * rng.standard_normal(t.size)
        if i == 5:
            x = np.stack([x, np.roll(x, 37) * 0.8], axis=1)
        sf.write(folder / f"take{i}.wav", x.astype(np.float32), sr, subtype="PCM_16")
    return folder


# ---------------------------------------------------------------------------------------------- commands
COMMON = ["--size", "tiny", "--device", "cpu"]
MODELS: dict[str, list[str]] = {
    # controls on (the default): the musical sliders below need the fitted control map
    "golden_rvq": ["--kind", "rvq", *COMMON, "--steps", "6", "--prior-steps", "6", "--seed", "3"],
    "golden_vae": ["--kind", "vae", *COMMON, "--steps", "6", "--seed", "4"],
}

GEN_COMMON = ["--duration", "2", "--device", "cpu"]
# case -> (model, extra args, output file name); each case writes into its own folder
CASES: dict[str, tuple[str, list[str], str]] = {
    "rvq_plain": ("golden_rvq", ["--seed", "7"], "out.wav"),
    "rvq_sliders_mono_flac": ("golden_rvq", ["--seed", "11", "--brightness", "0.5", "--density", "-0.5",
                                             "--temperature", "0.8", "--top-k", "16", "--top-p", "0.9",
                                             "-c", "mono", "-f", "flac", "-r", "44100", "-b", "16"], "out.flac"),
    "rvq_binaural_96k_float": ("golden_rvq", ["--seed", "5", "-c", "binaural", "--azimuth", "-40", "-r", "96000",
                                              "-b", "32", "--loudness", "-20", "--vocoder", "corpus",
                                              "--roughness", "0.4"], "out.wav"),
    "vae_plain_2_variations": ("golden_vae", ["--seed", "7", "-n", "2"], "out.wav"),
    "vae_sliders_mono_flac": ("golden_vae", ["--seed", "13", "--warmth", "-0.6", "--reverb", "0.4",
                                             "--rhythmic", "0.3", "--roughness", "0.3", "-c", "mono", "-f", "flac"],
                              "out.flac"),
    "vae_midside_96k": ("golden_vae", ["--seed", "2", "--stereo-method", "mid_side", "--pulse", "0.5",
                                       "--tension", "-0.4", "--brightness", "-0.3", "-r", "96000", "-b", "16",
                                       "--loudness", "-18"], "out.wav"),
}

# retrain: each golden model's command with --no-controls (controls are fitted after the model stages and do not
# touch them; the fit itself takes ~30-60 s, too slow for the test): its tensors must equal the golden model's
# without the control.* section. The rvq retrain also sets --checkpoint-every 2 (no effect on the weights) so
# that the test's engine run can cancel at an autoencoder checkpoint and at a prior checkpoint, resume, and
# must land on the same tensors.
RETRAIN: dict[str, list[str]] = {
    "golden_rvq": [*MODELS["golden_rvq"], "--checkpoint-every", "2", "--no-controls"],
    "golden_vae": [*MODELS["golden_vae"], "--no-controls"],
}
# the same rvq run as engine keyword arguments (sda_engine.trainer.train_model at bb7ebfe)
RESUME_MODEL = "golden_rvq"
RESUME_ENGINE_KWARGS = dict(kind="rvq", size="tiny", device="cpu", steps=6, prior_steps=6, seed=3,
                            checkpoint_every=2, controls=False)
RESUME_STOPS = [("train.autoencoder", 4), ("train.prior", 2)]  # cancel at these checkpoint events, resume after each

CORPUS_FIXTURE = "golden_dataset.corpus.safetensors"  # both models' corpus index (identical: same dataset)

# code grid round trip with golden_rvq: encode take2.wav, decode the grid (mono 44.1 kHz 16-bit)
CODES_INPUT = "take2.wav"
CODES_DECODE_ARGS = ["-c", "mono", "-r", "44100", "-b", "16", "--device", "cpu"]


# ---------------------------------------------------------------------------------------------- hashing
def sample_hash(path: Path) -> dict[str, Any]:
    """sha256 of the decoded sample array (int32 for PCM, float64 otherwise), not of the file bytes (tags may
    carry dates/versions), with the frames/rate/channels/subtype."""
    info = sf.info(str(path))
    dtype = "int32" if info.subtype.startswith("PCM") else "float64"
    data, rate = sf.read(str(path), dtype=dtype, always_2d=True)
    data = np.ascontiguousarray(data, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"sha256": hashlib.sha256(data.tobytes()).hexdigest(), "dtype": dtype, "frames": int(data.shape[0]),
            "sample_rate": int(rate), "channels": int(data.shape[1]), "format": info.format,
            "subtype": info.subtype}


def tensor_hashes(path: Path) -> dict[str, str]:
    """``name -> sha256(dtype|shape|bytes)`` of every tensor of a safetensors file (.sda), read by safetensors."""
    import torch
    from safetensors import safe_open

    out = {}
    with safe_open(str(path), framework="pt") as f:
        for name in sorted(f.keys()):
            t = f.get_tensor(name).contiguous()
            h = hashlib.sha256(f"{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
            out[name] = h.hexdigest()
    return out


def grid_codes_hash(grid: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(grid["codes"], separators=(",", ":")).encode()).hexdigest()


def written_files(folder: Path) -> list[Path]:
    """Audio files a generate/decode wrote into ``folder`` (sidecars excluded), sorted."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".json"))


# ---------------------------------------------------------------------------------------------- running
def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDA_")}
    # offline, with an empty Hugging Face cache: no BigVGAN, so ``--vocoder auto`` picks the corpus vocoder
    env = {k: v for k, v in env.items() if not k.startswith("HF_")}
    env.update(SDA_HOME=str(home), HF_HUB_OFFLINE="1", HF_HOME=str(home / "hf"), OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    return env


def _sda(home: Path, *args: str) -> str:
    exe = Path(sys.executable).with_name("sda")
    print("+ sda", " ".join(args), flush=True)
    done = subprocess.run([str(exe), *args], env=_env(home), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sda {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main() -> None:
    if GOLDEN_JSON.exists() and "--force" not in sys.argv[1:]:
        raise SystemExit(f"{GOLDEN_JSON} exists: the fixtures freeze the behaviour of {BASE_COMMIT}; regenerate them "
                         "only with that code installed, with --force")
    shutil.rmtree(FIXTURES, ignore_errors=True)
    (FIXTURES / "sidecars").mkdir(parents=True)
    golden: dict[str, Any] = {"base_commit": BASE_COMMIT, "made_by": "tests/golden/make_fixtures.py"}
    with tempfile.TemporaryDirectory(prefix="sda-golden-") as tmp:
        tmp_path = Path(tmp)
        home = tmp_path / "home"
        ds = make_dataset(tmp_path / "ds")
        golden["dataset"] = {p.name: sample_hash(p) for p in sorted(ds.iterdir())}

        golden["models"] = {}
        for name, args in MODELS.items():
            _sda(home, "train", str(ds), "--model", name, *args)
            src = home / "models" / f"{name}.sda"
            shutil.copyfile(src, FIXTURES / src.name)
            index = home / "corpus" / f"{name}.corpus.safetensors"
            if (FIXTURES / CORPUS_FIXTURE).exists():
                assert index.read_bytes() == (FIXTURES / CORPUS_FIXTURE).read_bytes(), "corpus indexes differ"
            shutil.copyfile(index, FIXTURES / CORPUS_FIXTURE)
            golden["models"][name] = {"command": ["sda", "train", "DATASET", "--model", name, *args],
                                      "tensors": tensor_hashes(src)}

        # generate from copies in a models folder (each beside its corpus index) with a fresh home, as the test does
        gen_home = tmp_path / "gen_home"
        models_dir = install_models(tmp_path / "models")
        golden["generations"] = {}
        for case, (model, extra, out_name) in CASES.items():
            out_dir = tmp_path / "gen" / case
            out_dir.mkdir(parents=True)
            args = ["generate", str(models_dir / f"{model}.sda"), *GEN_COMMON, *extra, "-o", str(out_dir / out_name)]
            _sda(gen_home, *args)
            golden["generations"][case] = {"command": ["sda", "generate", f"{model}.sda", *args[2:-1], out_name],
                                           "files": _record_outputs(out_dir, case)}

        # code grid round trip
        out_dir = tmp_path / "codes"
        grid = tmp_path / "take.sdacodes"
        _sda(gen_home, "codes", "encode", str(ds / CODES_INPUT), "--model", str(models_dir / "golden_rvq.sda"),
             "-o", str(grid), "--device", "cpu")
        shown = json.loads(_sda(gen_home, "codes", "show", str(grid), "--json"))
        out_dir.mkdir()
        _sda(gen_home, "codes", "decode", str(grid), "-o", str(out_dir / "decoded.wav"), *CODES_DECODE_ARGS)
        golden["codes"] = {"levels": shown.get("levels"), "frames": shown.get("frames"),
                           "codes_sha256": grid_codes_hash(shown),
                           "commands": [["sda", "codes", "encode", CODES_INPUT, "--model", "golden_rvq.sda", "-o",
                                         "take.sdacodes", "--device", "cpu"],
                                        ["sda", "codes", "show", "take.sdacodes", "--json"],
                                        ["sda", "codes", "decode", "take.sdacodes", "-o", "decoded.wav",
                                         *CODES_DECODE_ARGS]],
                           "files": _record_outputs(out_dir, "codes_decode")}

        # retrain straight through the CLI, without controls
        golden["retrain"] = {}
        for name, args in RETRAIN.items():
            rhome = tmp_path / f"retrain_{name}"
            _sda(rhome, "train", str(ds), "--model", name, *args)
            tensors = tensor_hashes(rhome / "models" / f"{name}.sda")
            same = {k: v for k, v in golden["models"][name]["tensors"].items() if not k.startswith("control.")}
            assert tensors == same, f"{name}: --no-controls retrain differs from the golden model's model stages"
            golden["retrain"][name] = {"command": ["sda", "train", "DATASET", "--model", name, *args],
                                       "tensors": tensors}
        golden["resume"] = {"model": RESUME_MODEL, "engine_kwargs": RESUME_ENGINE_KWARGS,
                            "stops": RESUME_STOPS, "expected": f"retrain.{RESUME_MODEL}.tensors"}
    GOLDEN_JSON.write_text(json.dumps(golden, indent=2, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN_JSON}")


def install_models(folder: Path) -> Path:
    """Copy the fixture models into ``folder``, each beside its own copy of the corpus index."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        shutil.copyfile(FIXTURES / f"{name}.sda", folder / f"{name}.sda")
        shutil.copyfile(FIXTURES / CORPUS_FIXTURE, folder / f"{name}.corpus.safetensors")
    return folder


def _record_outputs(out_dir: Path, case: str) -> dict[str, Any]:
    files = {}
    (FIXTURES / "sidecars" / case).mkdir()
    for audio in written_files(out_dir):
        files[audio.name] = sample_hash(audio)
        shutil.copyfile(audio.with_name(audio.name + ".json"), FIXTURES / "sidecars" / case / f"{audio.name}.json")
    return files


if __name__ == "__main__":
    main()
