"""Re-record the training part of the golden fixtures (``golden.json["retrain"]``) after a deliberate change of the
training recipe, leaving every other fixture (the model files, generations, code grids) as recorded at
``BASE_COMMIT``.

Generation goldens keep guarding the engine's output bit for bit across versions; the training goldens guard that
training is deterministic, that a run through the CLI equals a cancelled-and-resumed run through the engine, and
that the recipe does not change unnoticed. When the recipe *is* changed on purpose, run (one torch thread, CPU)::

    uv run python tests/golden/rerecord_training.py --reason "what changed and why"

It retrains each golden model's command through the CLI (as ``make_fixtures.py`` does), stores the new tensor
hashes, and appends ``{"commit": ..., "reason": ...}`` to ``golden.json["retrain_history"]`` so the fixture says
which recipe it holds. Recorded changes:

- the cached recipe (log-mels of the training audio and 8 augmented copies computed once, short files followed by
  silence instead of looped; ``TrainingConfig.cached_variants``): issue 25.
- a tiny rvq model starts from the shipped base model (``sda-base``; issue 27): the golden rvq hashes follow the
  shipped base's weights, so shipping another base means re-recording them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _fixtures() -> Any:
    spec = importlib.util.spec_from_file_location("sda_golden_make_fixtures", HERE / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reason", required=True, help="what changed in the training recipe, and why")
    args = parser.parse_args()
    G = _fixtures()
    golden = json.loads(G.GOLDEN_JSON.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ds = G.make_dataset(root / "golden_dataset")
        for name, cmd in G.RETRAIN.items():
            home = root / f"retrain_{name}"
            G._sda(home, "train", str(ds), "--model", name, *cmd)
            golden["retrain"][name]["tensors"] = G.tensor_hashes(home / "models" / f"{name}.sda")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    golden.setdefault("retrain_history", []).append({"commit": commit, "reason": args.reason})
    G.GOLDEN_JSON.write_text(json.dumps(golden, indent=2, sort_keys=True) + "\n")
    print(f"re-recorded the training hashes in {G.GOLDEN_JSON}")


if __name__ == "__main__":
    main()
