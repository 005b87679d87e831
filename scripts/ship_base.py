"""Ship a trained base in the sda-base package: copy it into ``packages/sda-base/src/sda_base/weights/`` and list it
in ``index.json`` with its SHA-256 and steps.

    uv run --no-sync python scripts/ship_base.py BASE/base-tiny-rvq.sda [--default --evidence "docs/base.md ..."]

``--default`` marks it ``fine_tune_by_default`` (sda train then starts from it when no --base/--from-scratch is
given); set it only where benchmarks/base.py measured fine-tuning better on most sets at equal minutes, and say
where in ``--evidence``. Without ``--default`` the base is shipped but used only when asked for.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "packages" / "sda-base" / "src" / "sda_base" / "weights"
MAX_MEGABYTES = 16.0
"""A shipped base stays small: it is in the git history and every install."""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", type=Path)
    p.add_argument("--default", action="store_true", help="fine-tune from it by default (needs --evidence)")
    p.add_argument("--evidence", default="", help="where the measurement that justifies --default is")
    a = p.parse_args(argv)
    from sda_base import INDEX, file_sha256
    from sda_models.model_file import load_model

    if a.default and not a.evidence:
        print("--default needs --evidence: the measurement that shows fine-tuning wins", file=sys.stderr)
        return 2
    size_mb = a.base.stat().st_size / 2**20
    if size_mb > MAX_MEGABYTES:
        print(f"{a.base} is {size_mb:.1f} MB; a shipped base stays under {MAX_MEGABYTES:g} MB", file=sys.stderr)
        return 2
    bundle = load_model(a.base)  # a readable, checked model file
    info = bundle.metadata.get("base") or {}
    if not info:
        print(f"{a.base} is not a base (no metadata.base): train one with sda base train", file=sys.stderr)
        return 2
    name = f"base-{info['size']}-{info['kind']}.sda"
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(a.base, WEIGHTS / name)
    index_path = WEIGHTS / INDEX
    index = json.loads(index_path.read_text()) if index_path.is_file() else {"bases": []}
    entry = {"file": name, "name": info.get("name") or f"sda-{Path(name).stem}", "size": info["size"],
             "kind": info["kind"], "sha256": file_sha256(WEIGHTS / name), "steps": info.get("steps"),
             "fine_tune_by_default": bool(a.default), "evidence": a.evidence}
    index["bases"] = [e for e in index["bases"] if e.get("file") != name] + [entry]
    index_path.write_text(json.dumps(index, indent=2) + "\n")
    print(f"shipped {name} ({size_mb:.2f} MB, {entry['steps']} steps, sha256 {entry['sha256'][:12]}, "
          f"fine-tuned from by default: {entry['fine_tune_by_default']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
