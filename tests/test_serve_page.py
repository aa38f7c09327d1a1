"""The web page of ``serve`` in a real browser: Debian's chromium driven by Playwright.

A real ``lesrcnn-deploy serve`` process on loopback (ephemeral port); the page uploads a Set5 image,
the downloaded file is byte for byte the CLI's output, the wipe slider changes the comparison,
413 and 401 are shown as readable messages, a video goes through the jobs API with progress.
Set ``LESRCNN_PAGE_SCREENSHOTS=docs`` to refresh the screenshots of docs/serving.md.
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")
playwright = pytest.importorskip("playwright.sync_api")

from PIL import Image  # noqa: E402

from lesrcnn_deploy.core.fileio import sha256_file  # noqa: E402
from lesrcnn_deploy.data import encode_image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
MAX_BODY = 300_000


def _env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``lesrcnn-deploy serve`` in a subprocess on 127.0.0.1, stopped with SIGTERM."""

    def __init__(self, model: Path, *options: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # ONNX Runtime on both sides: the page's download is compared with the CLI's bytes
        cmd = [sys.executable, "-m", "lesrcnn_deploy", "serve", "--model", str(model)]
        cmd += ["--runtime", "ort"]
        cmd += ["--port", str(self.port), "--log-level", "warning", *options]
        self.proc = subprocess.Popen(
            cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                pytest.fail(f"server exited with {self.proc.returncode}: {err}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail("server not ready in time")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            assert self.proc.wait(timeout=60) == 0
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} missing (required under CI=true; .ci/run installs it)")
        pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, chromium_sandbox=False)
        yield b
        b.close()


@pytest.fixture(scope="module")
def model(int8_models: dict[int, Path]) -> Path:
    return int8_models[2]


@pytest.fixture(scope="module")
def server(model: Path) -> Iterator[Server]:
    s = Server(model, "--max-body-bytes", str(MAX_BODY), "--tile", "64")
    yield s
    s.stop()


def _cli_output(model: Path, image: Path, out_dir: Path, *options: str) -> Path:
    cmd = [sys.executable, "-m", "lesrcnn_deploy", "upscale", str(image), "--model", str(model)]
    cmd += ["--runtime", "ort", "--output", str(out_dir), "--quiet", *options]
    subprocess.run(cmd, env=_env(), check=True, capture_output=True)
    (out,) = out_dir.iterdir()
    return out


def _open(browser: Any, base: str, **context: Any) -> Any:
    """A new page at ``base``; ``page.problems`` collects what a user's console would show
    (errors, uncaught exceptions, failed requests) from the first request on."""
    page = browser.new_context(**context).new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    page.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    page.problems = problems
    page.goto(base)
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    return page


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("LESRCNN_PAGE_SCREENSHOTS")
    if not folder:
        return
    png = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    png.save(Path(folder) / f"serve_page_{name}.png", optimize=True)


def _stage_pixels(page: Any) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.locator("#wrap").screenshot())).convert("RGB"))


def _upload(page: Any, path: Path) -> None:
    page.set_input_files("#file", str(path))


def test_page_upscales_a_set5_image_exactly_like_the_cli(
    browser: Any, server: Server, model: Path, set5: Path, tmp_path: Path
) -> None:
    image = set5 / "x2" / "img_003_SRF_2_LR.png"  # butterfly, 128 x 128
    cli = _cli_output(model, image, tmp_path / "cli", "--tile", "64", "--strip-metadata")
    page = _open(browser, server.base, viewport={"width": 1280, "height": 900})
    assert page.locator("#token-box").is_hidden()  # no token file: no token field
    order = []
    for _ in range(5):  # the keyboard reaches the file picker and every option
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
    assert order == ["file", "scale", "size-mode", "precision", "format"]
    page.select_option("#scale", "2")
    page.select_option("#precision", "int8")
    _upload(page, image)
    page.wait_for_selector("#history li .button", timeout=60_000)
    assert page.locator("#result").is_visible()
    assert page.locator("#error").is_hidden()

    # the download link: `download` attribute, the CLI's name and the CLI's bytes
    link = page.locator("#download")
    assert link.get_attribute("download") == cli.name == "img_003_SRF_2_LR_x2.png"
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == cli.name
    assert Path(download.path()).read_bytes() == cli.read_bytes()

    # runtime, inference time and the model's SHA256 beside the result
    facts = {
        k: page.locator(f'dd[data-fact="{k}"]').inner_text()
        for k in ("Runtime", "Inference time", "Model SHA256", "Output", "Model")
    }
    assert facts["Runtime"] == "ONNX Runtime (ort)"
    assert float(facts["Inference time"].removesuffix(" ms")) > 0
    assert facts["Model SHA256"] == sha256_file(model)
    assert facts["Output"] == "256 × 256 pixels"
    assert facts["Model"] == "×2 int8"
    for img in ("#before", "#after"):
        assert "img_003_SRF_2_LR.png" in (page.locator(img).get_attribute("alt") or "")
    _shot(page, "desktop")
    # a clean console: the icon is the page's own (no /favicon.ico 404), nothing logged or thrown
    assert page.get_attribute("link[rel=icon]", "href") == "/static/favicon.svg"
    assert page.evaluate("fetch('/static/favicon.svg').then(r => r.status)") == 200
    assert page.problems == []

    # the wipe: dragging the handle moves the clip, and only the pixels it passed change
    clip0 = page.eval_on_selector("#after", "e => getComputedStyle(e).clipPath")
    assert clip0 == "inset(0px 0px 0px 50%)"
    before = _stage_pixels(page)
    box = page.locator("#wrap").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.35, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.2, y, steps=5)
    page.mouse.up()
    clip1 = page.eval_on_selector("#after", "e => getComputedStyle(e).clipPath")
    assert clip1 != clip0
    pct = float(re.search(r"([\d.]+)%", clip1).group(1))  # type: ignore[union-attr]
    assert pct == pytest.approx(20, abs=1)
    after = _stage_pixels(page)
    w = before.shape[1]
    moved = np.abs(
        before[:, int(w * 0.25) : int(w * 0.45)].astype(int)
        - after[:, int(w * 0.25) : int(w * 0.45)]
    )
    still = np.abs(before[:, int(w * 0.6) :].astype(int) - after[:, int(w * 0.6) :])
    assert moved.mean() > 1.0  # bicubic there before, LESRCNN now
    assert still.max() == 0
    # the keyboard moves it too
    page.focus("#wipe")
    page.keyboard.press("ArrowRight")
    assert page.input_value("#wipe") == str(round(pct) + 1)

    # 1:1 pixels: one image pixel per device pixel
    page.click("#actual")
    assert page.get_attribute("#actual", "aria-pressed") == "true"
    width = page.eval_on_selector("#wrap", "e => e.getBoundingClientRect().width")
    assert width == pytest.approx(256 / page.evaluate("devicePixelRatio"))

    # too large: the server's 413 as a readable message
    rng = np.random.default_rng(0)
    noise = tmp_path / "noise.png"
    noise.write_bytes(encode_image(rng.integers(0, 256, (400, 400, 3), dtype=np.uint8), "png"))
    assert noise.stat().st_size > MAX_BODY
    _upload(page, noise)
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    message = page.inner_text("#error")
    assert "File too large (413)" in message and "noise.png" in message
    assert "{" not in message  # no raw JSON
    # sentences: the server's words once, no doubled brackets or stops
    assert "Server: Request body larger than 300000 bytes." in message, message
    assert not re.search(r"\.\.|\(\(|\)\)|\.\)|\)\.\s*\(|[.:]\s*\.", message), message
    page.context.close()


def test_page_outscale_and_fit_give_the_cli_s_sizes_and_bytes(
    browser: Any, server: Server, model: Path, set5: Path, tmp_path: Path
) -> None:
    image = set5 / "x2" / "img_003_SRF_2_LR.png"  # 128 x 128
    page = _open(browser, server.base, viewport={"width": 1280, "height": 900})
    assert page.locator("#outscale-box").is_hidden() and page.locator("#fit-box").is_hidden()
    page.select_option("#size-mode", "outscale")
    assert page.locator("#outscale-box").is_visible() and page.is_disabled("#scale")
    page.fill("#outscale", "1.5")
    _upload(page, image)
    page.wait_for_selector("#history li .button", timeout=60_000)
    assert page.locator('dd[data-fact="Output"]').inner_text() == "192 × 192 pixels"
    assert page.locator('dd[data-fact="Model"]').inner_text() == "×2 int8"  # smallest reaching
    cli = _cli_output(
        model, image, tmp_path / "cli", "--tile", "64", "--strip-metadata", "--outscale", "1.5"
    )
    link = page.locator("#download")
    assert link.get_attribute("download") == cli.name == "img_003_SRF_2_LR_x1.5.png"
    with page.expect_download() as info:
        link.click()
    assert Path(info.value.path()).read_bytes() == cli.read_bytes()
    # the comparison's bicubic side has the result's size
    sizes = page.evaluate(
        "[...document.querySelectorAll('#before, #after')].map(i => [i.naturalWidth, "
        "i.naturalHeight])"
    )
    assert sizes == [[192, 192], [192, 192]]

    page.select_option("#size-mode", "fit")
    page.fill("#fit-size", "100x60")
    _upload(page, image)
    page.wait_for_function("() => document.querySelectorAll('#history li .button').length >= 2")
    assert page.locator('dd[data-fact="Output"]').inner_text() == "60 × 60 pixels"
    assert page.locator("#download").get_attribute("download") == "img_003_SRF_2_LR_fit100x60.png"
    # a bad box is refused in the page, in one sentence
    page.fill("#fit-size", "wide")
    _upload(page, image)
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == (
        "img_003_SRF_2_LR.png: The box must be a width and a height in pixels, such as 1920x1080."
    )
    assert page.problems == []
    page.context.close()


def test_page_at_phone_width_pans_at_1_to_1(
    browser: Any, server: Server, set5: Path, tmp_path: Path
) -> None:
    image = set5 / "x2" / "img_001_SRF_2_LR.png"  # baby, 256 x 256 -> 512 x 512
    page = _open(
        browser, server.base, viewport={"width": 390, "height": 844}, device_scale_factor=1
    )
    # dropped on the drop zone this time (a real DataTransfer with the file's bytes)
    transfer = page.evaluate_handle(
        """([name, bytes]) => {
            const t = new DataTransfer();
            t.items.add(new File([new Uint8Array(bytes)], name, {type: "image/png"}));
            return t;
        }""",
        [image.name, list(image.read_bytes())],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    page.wait_for_selector("#history li .button", timeout=120_000)
    assert page.inner_text("#result-name") == image.name
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    wrap = page.locator("#wrap").bounding_box()
    assert wrap is not None and wrap["width"] <= 390
    _shot(page, "phone")
    page.click("#actual")
    stage = page.locator("#stage")
    stage.scroll_into_view_if_needed()
    assert page.evaluate("document.getElementById('stage').scrollWidth") == 512
    box = stage.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] * 0.95, box["y"] + min(box["height"], 300) * 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 100, y, steps=5)
    page.mouse.up()
    assert page.input_value("#wipe") == "50"  # panned, not wiped
    assert page.evaluate("document.getElementById('stage').scrollLeft") == pytest.approx(100, abs=2)
    page.context.close()


def test_page_asks_for_the_token_and_shows_401_until_given(
    browser: Any, model: Path, set5: Path, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("open sesame 42\n")
    server = Server(model, "--token-file", str(token))
    try:
        page = _open(browser, server.base)
        assert page.locator("#token-box").is_visible()
        image = set5 / "x2" / "img_002_SRF_2_LR.png"
        _upload(page, image)
        page.wait_for_selector("#error:not([hidden])", timeout=30_000)
        assert "Access denied (401)" in page.inner_text("#error")
        page.fill("#token", "wrong")
        _upload(page, image)
        page.wait_for_function(
            "() => document.querySelectorAll('#history li').length === 2 && "
            "document.querySelector('#history li .state').textContent.startsWith('failed')"
        )
        assert "Access denied (401)" in page.inner_text("#error")
        page.fill("#token", "open sesame 42")
        _upload(page, image)
        page.wait_for_selector("#history li .button", timeout=60_000)
        assert page.locator("#error").is_hidden()
        assert page.locator("#result").is_visible()
        page.context.close()
    finally:
        server.stop()


def test_page_video_job_shows_progress_then_gives_the_video(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    pytest.importorskip("av")
    from test_serve_jobs import frame_times, make_vfr_clip

    clip = make_vfr_clip(tmp_path / "clip.mp4", frames=24)
    page = _open(browser, server.base)
    _upload(page, clip)
    page.wait_for_selector("#progress-box:not([hidden])", timeout=30_000)
    seen: set[str] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = page.evaluate(
            "() => document.getElementById('progress-box').hidden ? '' :"
            " document.getElementById('progress-text').textContent"
        )
        if text:
            seen.add(text)
        if page.locator("#history li a[data-job]").count():
            break
        time.sleep(0.05)
    assert any(re.match(r"\d+ / 24 frames", t) for t in seen), seen
    link = page.locator("#history li a[data-job]")
    assert link.get_attribute("download") == "clip_x2.mp4"
    with page.expect_download() as info:
        link.click()
    out = tmp_path / "out.mp4"
    info.value.save_as(out)
    assert frame_times(out) == frame_times(clip)
    assert len(frame_times(out)) == 24
    assert "done: 24 frames" in page.inner_text("#history li .state")
    page.context.close()
