"""The evaluation loop's own errors: too-small images and mismatched scales, each named as what it
is (nothing relabelled)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lesrcnn_deploy.core.errors import ConfigError, DatasetError
from lesrcnn_deploy.data import open_dataset
from lesrcnn_deploy.evaluation.evaluate import evaluate
from lesrcnn_deploy.evaluation.scoring import Protocol, unscorable
from lesrcnn_deploy.runtime import open_runner


def test_unscorable_is_the_border_crop_plus_the_ssim_window() -> None:
    assert unscorable(Protocol.PAPER, (15, 15), scale=2) == ""  # 15 - 2*2 = 11: just enough
    reason = unscorable(Protocol.PAPER, (14, 30), scale=2)
    assert "14" in reason and "10" in reason and "11x11 SSIM window" in reason
    assert unscorable(Protocol.PAPER, (16, 16), scale=3) != ""  # 16 - 6 = 10
    assert unscorable(Protocol.SEED128, (8, 8), scale=4) == ""  # the card scores 128*s outputs


def _set(root: Path, hr: int, scale: int) -> Path:
    rng = np.random.default_rng(0)
    (root / "HR").mkdir(parents=True)
    (root / "LR_bicubic" / f"X{scale}").mkdir(parents=True)
    img = rng.integers(0, 256, (hr, hr, 3), dtype=np.uint8)
    cv2.imwrite(str(root / "HR" / "a.png"), img)
    lr = cv2.resize(img, (hr // scale, hr // scale), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(root / "LR_bicubic" / f"X{scale}" / f"ax{scale}.png"), lr)
    return root


def test_evaluate_names_the_image_and_the_scale(random_fp32: Path, tmp_path: Path) -> None:
    runner = open_runner(random_fp32, threads=1)
    small = open_dataset(_set(tmp_path / "small", 12, 2), 2)
    with pytest.raises(DatasetError, match=r"a\.png: cannot be scored under the paper protocol"):
        evaluate(runner, small, progress=False)
    x3 = open_dataset(_set(tmp_path / "x3", 48, 3), 3)
    with pytest.raises(ConfigError, match="model is x2, dataset x3 was opened for x3"):
        evaluate(runner, x3, progress=False)
    ok = evaluate(runner, open_dataset(_set(tmp_path / "ok", 32, 2), 2), progress=False)
    assert ok.n == 1 and np.isfinite(ok.psnr)
