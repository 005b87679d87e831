"""Starting a user's training from a base model (issue 27): which base, whether its shapes fit, its weights.

A base (package ``sda-base``, or a file given with ``sda train --base FILE``) is an ``.sda`` autoencoder trained
on broad audio. A new model starts from it when the base has the model's mel front end, kind and layer shapes:
the encoder's and decoder's weights and the mel normalisation come from the base; an RVQ model's codebooks do
not (the codebook size depends on the user's number of files, and a codebook is the user's material's own
vocabulary): they are initialised from the user's first batch, as from scratch. The model file records the base
it grew from (``metadata.base``: name, hash, steps).

The choice (:func:`choose_base`): ``none`` trains from scratch; a path uses that file; ``auto`` (the default)
uses the installed base of the model's size and kind where the measurements marked it ``fine_tune_by_default``
(docs/base.md), and trains from scratch otherwise, saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sda_audio.errors import SdaError

NONE = "none"
AUTO = "auto"
CODEBOOK_PREFIX = "rvq."


@dataclass(frozen=True)
class BaseChoice:
    """The base a run starts from (``path`` ``None``: from scratch) and the sentence that says why."""

    path: Path | None
    sha256: str | None
    name: str | None
    reason: str
    steps: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path) if self.path else None, "sha256": self.sha256, "name": self.name,
                "steps": self.steps, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaseChoice:
        return cls(path=Path(data["path"]) if data.get("path") else None, sha256=data.get("sha256"),
                   name=data.get("name"), reason=str(data.get("reason", "")), steps=data.get("steps"))


def base_record(choice: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a model file records of the base it started from (``None``: from scratch)."""
    if not choice or not choice.get("path"):
        return None
    return {"name": choice.get("name"), "sha256": choice.get("sha256"), "file": Path(choice["path"]).name,
            "steps": choice.get("steps")}


def describe_start(metadata: dict[str, Any]) -> str:
    """How a model began, in words, from its metadata: a base itself, started from a base (which, its hash),
    from scratch, or from scratch because it predates base models (``sda models show``, the GUI's Library)."""
    base = metadata.get("base")
    if isinstance(base, dict) and "corpus" in base:  # the file is a base model
        return (f"itself a base model ({base.get('steps')} steps on "
                f"{(base.get('corpus') or {}).get('files')} corpus files)")
    if isinstance(base, dict):
        steps = f", {base['steps']} steps" if base.get("steps") else ""
        return f"started from sda's base model {base.get('name')} (sha256 {str(base.get('sha256') or '')[:12]}{steps})"
    if "base" in metadata:
        return "started from scratch"
    return "started from scratch (trained before sda had base models)"


def choose_base(choice: str | None, size: str, kind: str) -> BaseChoice:
    """Resolve ``choice`` (``auto``/``None``, ``none`` or a file) for a new model of ``size`` and ``kind``."""
    from sda_base import BaseIndexError, file_sha256, find_base

    if choice == NONE:
        return BaseChoice(None, None, None, "from scratch, as asked")
    if choice not in (None, AUTO):
        path = Path(choice).expanduser().resolve()
        if not path.is_file():
            raise SdaError("the base model file is not there", path=path,
                           hint="give the path of a base .sda file (sda base train writes one), or leave --base out")
        return BaseChoice(path, file_sha256(path), path.stem, f"fine-tuned from the base {path.name}, as asked",
                          _steps_of(path))
    try:
        base = find_base(size, kind)
    except BaseIndexError as exc:
        return BaseChoice(None, None, None, f"from scratch: {exc}")
    if base is None:
        return BaseChoice(None, None, None, f"from scratch: no base model of the {size} {kind} shapes is installed")
    if not base.fine_tune_by_default:
        return BaseChoice(None, None, None, (f"from scratch: the installed {base.name} did not beat training from "
                                             f"scratch in the measurements (docs/base.md); --base {base.path} "
                                             "uses it"))
    try:
        base.verify()
    except BaseIndexError as exc:
        return BaseChoice(None, None, None, f"from scratch: {exc}")
    steps = f", {base.steps} steps on the base corpus" if base.steps else ""
    return BaseChoice(base.path, base.sha256, base.name, f"fine-tuned from {base.name}{steps}", base.steps)


def _steps_of(path: Path) -> int | None:
    """The steps a base file says it trained (``None``: not a base, or unreadable; the load checks it)."""
    from sda_models.model_file import read_metadata

    try:
        steps = (read_metadata(path).get("base") or {}).get("steps")
    except SdaError:
        return None
    return int(steps) if isinstance(steps, int) else None


@dataclass
class BaseStart:
    """A loaded base: its autoencoder and normalisation statistics. ``keeps_codebooks`` is ``False``: a base
    lends its encoder and decoder, not its codebooks."""

    autoencoder: Any
    stats: Any
    keeps_codebooks: bool = False


def load_base_start(choice: BaseChoice, autoencoder_config: Any) -> BaseStart | None:
    """Load the chosen base and check that it fits a model of ``autoencoder_config`` (``None``: from scratch).

    Raises:
        SdaError: the file is not a readable model, or its mel front end, kind or layer shapes differ.
    """
    if choice.path is None:
        return None
    from sda_models.mel import MelConfig
    from sda_models.model_file import load_model

    bundle = load_model(choice.path, "cpu")
    mismatch = _mismatch(bundle, autoencoder_config, MelConfig())
    if mismatch:
        raise SdaError(f"the base {choice.path.name} does not fit this model: {mismatch}", path=choice.path,
                       hint="train from scratch (--from-scratch), or use a base of the model's size and kind")
    return BaseStart(autoencoder=bundle.autoencoder, stats=bundle.stats)


def _mismatch(bundle: Any, cfg: Any, mel: Any) -> str:
    if bundle.mel_config != mel:
        return "its mel front end differs"
    base_cfg = bundle.autoencoder.config
    if base_cfg.kind != cfg.kind:
        return f"it is a {base_cfg.kind} autoencoder, the model a {cfg.kind}"
    shapes = ("channels", "latent_dim", "res_blocks", "kernel_size", "codebook_dim", "rvq_levels")
    differ = [k for k in shapes if getattr(base_cfg, k) != getattr(cfg, k) and (cfg.kind == "rvq" or
                                                                                 not k.startswith(("codebook", "rvq")))]
    return f"its {', '.join(differ)} differ" if differ else ""


def load_start_weights(model: Any, start: Any) -> None:
    """Copy ``start``'s autoencoder weights into ``model``: all of them (a model being grown) or all but the
    codebooks (a base: ``keeps_codebooks`` false)."""
    state = start.autoencoder.state_dict()
    if getattr(start, "keeps_codebooks", True):
        model.load_state_dict(state)
        return
    own = model.state_dict()
    taken = {k: v for k, v in state.items() if not k.startswith(CODEBOOK_PREFIX) and k in own
             and own[k].shape == v.shape}
    missing = [k for k in own if not k.startswith(CODEBOOK_PREFIX) and k not in taken]
    if missing:
        raise SdaError(f"the base lacks {len(missing)} weight(s) of this model ({missing[0]}, ...)",
                       hint="train from scratch (--from-scratch)")
    model.load_state_dict(taken, strict=False)
