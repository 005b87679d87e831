"""First-use download of the BigVGAN weights, against a local HTTP server that imitates the Hugging Face hub."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from sda_audio.progress import ProgressEvent
from sda_models.vocoders.bigvgan import HF_REPO_ID, BigVGANConfig, BigVGANGenerator
from sda_models.vocoders.bigvgan_weights import load_bigvgan_generator, resolve_bigvgan_weights

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TINY = BigVGANConfig(upsample_rates=(8, 8, 8), upsample_kernel_sizes=(16, 16, 16), upsample_initial_channel=16,
                     resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1, 2),))


class _Hub:
    """Serves ``/{repo}/resolve/{revision}/{filename}`` (HEAD and GET) with the headers hf_hub_download reads."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self, body: bool) -> None:
                hub.requests.append((self.command, self.path))
                prefix = f"/{HF_REPO_ID}/resolve/"
                name = self.path.split("?")[0]
                data = None
                if name.startswith(prefix):
                    _revision, _, filename = name[len(prefix):].partition("/")
                    data = hub.files.get(filename)
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Hub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served_generator() -> Iterator[tuple[BigVGANGenerator, dict[str, bytes]]]:
    torch.manual_seed(0)
    gen = BigVGANGenerator(TINY).eval()
    buffer = io.BytesIO()
    torch.save({"generator": gen.state_dict()}, buffer)
    config = {"resblock": "1", "activation": "snakebeta", **TINY.to_dict()}
    yield gen, {"bigvgan_generator.pt": buffer.getvalue(), "config.json": json.dumps(config).encode()}


def _set_offline(monkeypatch: pytest.MonkeyPatch, offline: bool) -> None:
    import huggingface_hub.constants

    monkeypatch.delenv("SDA_BIGVGAN_WEIGHTS", raising=False)
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", offline)


def test_download_reports_progress_then_works_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served_generator: tuple[BigVGANGenerator, dict[str, bytes]]
) -> None:
    gen, files = served_generator
    cache = tmp_path / "hf-cache"
    events: list[ProgressEvent] = []
    _set_offline(monkeypatch, False)
    with _Hub(files) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        weights = resolve_bigvgan_weights(cache_dir=cache, on_event=events.append)
    assert weights.source == "download"
    assert weights.checkpoint.read_bytes() == files["bigvgan_generator.pt"]
    assert weights.config is not None and weights.config.read_bytes() == files["config.json"]
    assert {method for method, _ in hub.requests} >= {"HEAD", "GET"}
    assert all(path.startswith(f"/{HF_REPO_ID}/resolve/main/") for _, path in hub.requests)

    assert events[0].kind == "start" and events[-1].kind == "done"
    assert any(e.kind == "warning" and "pinned release" in e.message for e in events)  # not the real file
    assert all(e.job == "download" for e in events)
    size = len(files["bigvgan_generator.pt"])
    ckpt = [e for e in events if e.kind == "progress" and e.data.get("filename") == "bigvgan_generator.pt"]
    assert ckpt and ckpt[-1].step == size and ckpt[-1].total == size

    # Second call: server gone and offline mode on — the HF cache answers.
    _set_offline(monkeypatch, True)
    again = resolve_bigvgan_weights(cache_dir=cache, on_event=events.append)
    assert again.source == "cache" and again.checkpoint.read_bytes() == files["bigvgan_generator.pt"]

    loaded = load_bigvgan_generator(again, safetensors_dir=tmp_path / "st")
    mel = torch.randn(1, 128, 4)
    with torch.no_grad():
        assert torch.equal(loaded(mel), gen(mel))


def test_download_failure_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served_generator: tuple[BigVGANGenerator, dict[str, bytes]]
) -> None:
    from sda_audio.errors import SdaError

    _set_offline(monkeypatch, False)
    with _Hub({}) as hub:  # the hub answers 404 for everything
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(SdaError, match="could not download.*404.*download the weights once"):
            resolve_bigvgan_weights(cache_dir=tmp_path / "hf-cache")
