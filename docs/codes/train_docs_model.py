"""Train the model the pictures of docs/codes.md were made with: the ``tiny`` RVQ architecture on
../shared/datasets/loops, trained with the model-level steps of sda-models (no augmentation, no time budget).

    uv run --no-sync python docs/codes/train_docs_model.py OUT.sda [AE_STEPS] [PRIOR_STEPS]

Why not ``sda train``: on the shared 2-core machine these pages were made on, ``sda train --size tiny
--max-minutes 4`` reached about 50 autoencoder steps (waveform augmentation costs about a second per batch
there), and that model reconstructs the loops worse than their average spectrum (docs/codes.md gives the
numbers). The same architecture trained without augmentation reaches hundreds of steps in a few minutes.
Import the result with ``sda models import OUT.sda --name loops-docs``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from sda_audio.io import read_audio
from sda_models.autoencoder import build_autoencoder
from sda_models.configs import preset_config
from sda_models.mel import LogMel, MelConfig
from sda_models.model_file import ModelBundle, save_model
from sda_models.normalization import MelStats
from sda_models.prior import CodePrior, prior_train_step, random_code_windows
from sda_models.training import lr_at, make_optimizer, train_step

LOOPS = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "loops"


def main(out: Path, ae_steps: int, prior_steps: int) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)  # small tensors: one thread is faster than several on a busy CPU
    files = sorted(LOOPS.glob("*.flac"))
    front = LogMel(MelConfig())
    mels = [front(torch.from_numpy(read_audio(f, sample_rate=44100, mono=True).samples[0])[None])[0] for f in files]
    stats = MelStats.from_mels(mels)
    norm = [stats.normalize(m[None])[0] for m in mels]
    preset = preset_config("tiny", "rvq", n_files=len(files))
    training = preset.training.replace(max_steps=ae_steps, warmup_steps=20)
    ae = build_autoencoder(preset.autoencoder, seed=0)
    optimizer = make_optimizer(ae, training)
    gen = torch.Generator().manual_seed(0)
    seg = training.segment_frames
    lengths = torch.tensor([m.shape[1] for m in norm], dtype=torch.float64)
    for step in range(ae_steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, training)
        batch = []
        for i in torch.multinomial(lengths / lengths.sum(), training.batch_size, True, generator=gen).tolist():
            m = norm[i] if norm[i].shape[1] > seg else norm[i].repeat(1, seg // norm[i].shape[1] + 2)
            start = int(torch.randint(0, m.shape[1] - seg, (1,), generator=gen))
            batch.append(m[:, start:start + seg])
        metrics = train_step(ae, optimizer, torch.stack(batch), preset.autoencoder, step,
                             generator=torch.Generator().manual_seed(step))
        if step % 100 == 0 or step == ae_steps - 1:
            print(f"autoencoder step {step}: l1 {metrics.get('l1', float('nan')):.3f}", flush=True)
    ae.eval()
    with torch.no_grad():
        codes = [ae.encode_codes(m[None])[0] for m in norm]
    assert preset.prior is not None and preset.prior_training is not None
    prior = CodePrior(preset.prior)
    popt = torch.optim.AdamW(prior.parameters(), lr=preset.prior_training.lr, weight_decay=1e-4)
    for step in range(prior_steps):
        batch = random_code_windows(codes, 16, preset.prior.context_frames, gen)
        stats_p = prior_train_step(prior, popt, batch)
        if step % 100 == 0 or step == prior_steps - 1:
            print(f"prior step {step}: loss {stats_p['loss']:.3f}", flush=True)
    meta = {"name": out.stem, "dataset": {"name": "loops", "files": [str(f) for f in files],
                                          "n_files": len(files)},
            "training": {"script": "docs/codes/train_docs_model.py", "autoencoder_steps": ae_steps,
                         "prior_steps": prior_steps, "size": "tiny", "augment": False},
            "configs": {"mel": MelConfig().to_dict()}}
    save_model(out, ModelBundle(metadata=meta, autoencoder=ae, stats=stats, prior=prior.eval()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 800,
         int(sys.argv[3]) if len(sys.argv) > 3 else 600)
