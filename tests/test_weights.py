"""Weights registry, checkpoint search, download and every way a checkpoint can be bad."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from lesrcnn_deploy.core.errors import ChecksumError, DownloadError, WeightsError
from lesrcnn_deploy.network.lesrcnn import build_model, count_parameters
from lesrcnn_deploy.weights import (
    LESRCNN_Blind_Weights,
    LESRCNN_X2_Weights,
    LESRCNN_X3_Weights,
    LESRCNN_X4_Weights,
    download,
    get_weights,
    list_weights,
    load_model,
    resolve_checkpoint,
)

ENUMS = [LESRCNN_X2_Weights, LESRCNN_X3_Weights, LESRCNN_X4_Weights, LESRCNN_Blind_Weights]


@pytest.mark.parametrize("enum_cls", ENUMS)
def test_registry_records(enum_cls: type) -> None:
    assert hasattr(enum_cls, "DEFAULT")
    for member in enum_cls:
        assert member.name.isupper()
        rec = member.record
        assert rec.url.startswith("https://github.com/hellloxiaotian/LESRCNN/raw/e3729ed")
        assert rec.url.endswith(rec.filename)
        assert rec.num_params == count_parameters(build_model(rec.scale))
        assert rec.metrics, "published metrics are required"
        if rec.scale is not None:
            assert rec.sha256 is not None and len(rec.sha256) == 64
            assert rec.cache_name == f"lesrcnn_x{rec.scale}-{rec.sha256[:8]}.pth"
            assert set(rec.metrics["Set5"]) == {"psnr_y", "ssim_y"}
    assert [r.scale for r in list_weights()] == [2, 3, 4, None]


def test_registry_digests_match_shared_sha256sums(weights_dir: Path) -> None:
    sums = dict(
        line.split()[::-1] for line in (weights_dir / "SHA256SUMS").read_text().splitlines()
    )
    for s in (2, 3, 4):
        assert sums[f"lesrcnn_x{s}.pth"] == get_weights(s).sha256


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_official_checkpoints_load_strict(weights_dir: Path, scale: int) -> None:
    model, _, digest = load_model(scale, weights_dir / f"lesrcnn_x{scale}.pth")
    assert digest == get_weights(scale).sha256
    assert not model.training


def test_search_order_prefers_env_dir(
    weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(weights_dir / "lesrcnn_x2.pth", tmp_path / "lesrcnn_x2.pth")
    monkeypatch.setenv("LESRCNN_WEIGHTS_DIR", str(tmp_path))
    assert resolve_checkpoint(2) == tmp_path / "lesrcnn_x2.pth"
    # a corrupted file found by the search is refused, never silently used
    data = bytearray((tmp_path / "lesrcnn_x2.pth").read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / "lesrcnn_x2.pth").write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"does not match the official lesrcnn_x2\.pth"):
        resolve_checkpoint(2)


def test_explicit_path_checksum_mismatch_and_custom(weights_dir: Path, tmp_path: Path) -> None:
    state = torch.load(weights_dir / "lesrcnn_x2.pth", map_location="cpu", weights_only=True)
    state["conv1.0.weight"] = state["conv1.0.weight"] * 1.01  # "fine-tuned"
    torch.save(state, tmp_path / "tuned.pth")
    with pytest.raises(ChecksumError, match=r"tuned\.pth: SHA256"):
        load_model(2, tmp_path / "tuned.pth")
    model, _, _ = load_model(2, tmp_path / "tuned.pth", allow_custom=True)
    assert torch.equal(model.conv1[0].weight, state["conv1.0.weight"])


def _save(tmp_path: Path, name: str, obj: object) -> Path:
    p = tmp_path / name
    torch.save(obj, p)
    return p


def test_bad_checkpoints_give_one_line_errors(weights_dir: Path, tmp_path: Path) -> None:
    good = weights_dir / "lesrcnn_x2.pth"
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = tmp_path / "text.pth"
    text.write_text("hello\n")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    x3 = weights_dir / "lesrcnn_x3.pth"
    partial = _save(
        tmp_path,
        "partial.pth",
        {k: v for k, v in build_model(2).state_dict().items() if k != "conv5.0.weight"},
    )
    cases = [
        (truncated, "truncated or corrupted"),
        (text, "truncated or corrupted"),
        (empty, "empty file"),
        (x3, "this is a x3 checkpoint, asked for x2"),
        (partial, "missing keys conv5.0.weight"),
        (_save(tmp_path, "list.pth", [1, 2, 3]), "not a state_dict"),
        (tmp_path / "absent.pth", "not found"),
    ]
    for path, reason in cases:
        with pytest.raises(WeightsError) as info:
            load_model(2, path, allow_custom=True)
        message = str(info.value)
        assert "\n" not in message and str(path) in message and reason in message, message


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_pickled_code_payload_is_refused_not_executed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    evil = _save(tmp_path, "evil.pth", {"conv1.0.weight": torch.zeros(1), "x": _Payload()})
    with pytest.raises(WeightsError, match="refused to load"):
        load_model(2, evil, allow_custom=True)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_blind_checkpoint_loads_by_path_only(tmp_path: Path) -> None:
    blind = build_model(None)
    for p in blind.parameters():
        torch.nn.init.normal_(p, std=0.01)
    path = _save(tmp_path, "lesrcnn.pth", blind.state_dict())
    model, _, _ = load_model(None, path)  # no digest on record: structure checks only
    assert model.is_blind
    with pytest.raises(WeightsError, match="this is a blind"):
        load_model(3, path, allow_custom=True)
    with pytest.raises(WeightsError, match="no SHA256 is on record"):
        resolve_checkpoint(None)


@pytest.fixture()
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over tmp_path/www; '/cut/<name>' sends half the body."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            cut = self.path.startswith("/cut/")
            data = (root / self.path.split("/")[-1]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2] if cut else data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()


def test_download_verifies_and_never_leaves_partial_files(
    http_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = http_server
    payload = b"lesrcnn" * 10_000
    (root / "w.pth").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    cache = tmp_path / "cache"

    with pytest.raises(DownloadError, match="cut short"):
        download(f"{base}/cut/w.pth", cache / "w.pth", sha256=digest, progress=False)
    assert list(cache.iterdir()) == []  # no partial file

    with pytest.raises(ChecksumError, match="expected"):
        download(f"{base}/w.pth", cache / "w.pth", sha256="0" * 64, progress=False)
    assert list(cache.iterdir()) == []

    with pytest.raises(DownloadError, match="download failed"):
        download(f"{base}/missing.pth", cache / "w.pth", sha256=digest, progress=False)

    out = download(f"{base}/w.pth", cache / "w.pth", sha256=digest, progress=False)
    assert out.read_bytes() == payload and list(cache.iterdir()) == [out]
