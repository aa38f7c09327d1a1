"""Registry of the official LESRCNN checkpoints (no PyTorch import).

One frozen :class:`WeightsRecord` per checkpoint (URL at the pinned upstream commit, SHA256, scale,
parameter count, published metrics), exposed as one enum per scale with a ``DEFAULT`` member, in the
manner of torchvision's weights API.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..core.vocab import check_scale

__all__ = [
    "UPSTREAM_COMMIT",
    "LESRCNN_Blind_Weights",
    "LESRCNN_X2_Weights",
    "LESRCNN_X3_Weights",
    "LESRCNN_X4_Weights",
    "WeightsRecord",
    "get_weights",
    "list_weights",
]

UPSTREAM_COMMIT = "e3729ed3884cbaa67c1534a1ac9626c71d670d27"
_REPO = "https://github.com/hellloxiaotian/LESRCNN/raw/" + UPSTREAM_COMMIT
_PAPER = "Tian et al., Lightweight image super-resolution with enhanced CNN, KBS 2020"


def _frozen(d: Mapping[str, Mapping[str, float]]) -> Mapping[str, Mapping[str, float]]:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in d.items()})


@dataclass(frozen=True)
class WeightsRecord:
    """One checkpoint: where it comes from, how to check it, what it is published to score.

    Attributes:
        name: registry name, e.g. ``"lesrcnn_x2"``.
        scale: 2, 3 or 4; ``None`` for the blind model (scale chosen at call time).
        filename: upstream file name (``lesrcnn_x2.pth``).
        url: download URL at the pinned upstream commit.
        sha256: full hex digest of the file, or ``None`` where no digest is on record (then the
            file can't be downloaded or found automatically, only given by path).
        num_params: parameter count including the two mean-shift convs (the card's convention).
        metrics: published fp32 numbers, ``{"Set5": {"psnr_y": .., "ssim_y": ..}, ...}``; the
            ``DIV2K_seed128`` entry is the model-zoo card's (RGB, 128x128 LR, see REFERENCE 3).
        input_contract: what the network eats.
    """

    name: str
    scale: int | None
    filename: str
    url: str
    sha256: str | None
    num_params: int
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    input_contract: str = "RGB float32 in [0, 1], NCHW"
    source: str = f"github.com/hellloxiaotian/LESRCNN @ {UPSTREAM_COMMIT[:7]}"
    paper: str = _PAPER

    @property
    def cache_name(self) -> str:
        """File name in the model cache: upstream stem plus the 8-hex SHA256 prefix."""
        stem = self.filename.removesuffix(".pth")
        return f"{stem}-{self.sha256[:8]}.pth" if self.sha256 else self.filename


class _WeightsEnum(enum.Enum):
    @property
    def record(self) -> WeightsRecord:
        value = self.value
        assert isinstance(value, WeightsRecord)
        return value


class LESRCNN_X2_Weights(_WeightsEnum):
    """Official x2 checkpoint."""

    OFFICIAL = WeightsRecord(
        name="lesrcnn_x2",
        scale=2,
        filename="lesrcnn_x2.pth",
        url=f"{_REPO}/x2/lesrcnn_x2.pth",
        sha256="66b4b2ddb268486f78a3d49758a016417e64f602ef963667b5ce34039200bcde",
        num_params=626_328,
        metrics=_frozen(
            {
                "Set5": {"psnr_y": 37.65, "ssim_y": 0.9586},
                "Set14": {"psnr_y": 33.32, "ssim_y": 0.9148},
                "B100": {"psnr_y": 31.95, "ssim_y": 0.8964},
                "Urban100": {"psnr_y": 31.45, "ssim_y": 0.9206},
                "DIV2K_seed128": {
                    "psnr": 29.763,
                    "ssim": 0.916,
                    "int8_psnr": 27.575,
                    "int8_ssim": 0.877,
                },
            }
        ),
    )
    DEFAULT = OFFICIAL


class LESRCNN_X3_Weights(_WeightsEnum):
    """Official x3 checkpoint."""

    OFFICIAL = WeightsRecord(
        name="lesrcnn_x3",
        scale=3,
        filename="lesrcnn_x3.pth",
        url=f"{_REPO}/x3/lesrcnn_x3.pth",
        sha256="95cbabcbd243e5582118d3bba44fd751a80dd19a291d5f3b1ebd7c9b3b61346a",
        num_params=810_968,
        metrics=_frozen(
            {
                "Set5": {"psnr_y": 33.93, "ssim_y": 0.9231},
                "Set14": {"psnr_y": 30.12, "ssim_y": 0.8380},
                "B100": {"psnr_y": 28.91, "ssim_y": 0.8005},
                "Urban100": {"psnr_y": 27.70, "ssim_y": 0.8415},
            }
        ),
    )
    DEFAULT = OFFICIAL


class LESRCNN_X4_Weights(_WeightsEnum):
    """Official x4 checkpoint."""

    OFFICIAL = WeightsRecord(
        name="lesrcnn_x4",
        scale=4,
        filename="lesrcnn_x4.pth",
        url=f"{_REPO}/x4/lesrcnn_x4.pth",
        sha256="1de9d0e1b1817de43fba3ce9c4b966fd8cde81e160d7432a844d6a2296f90cbc",
        num_params=774_040,
        metrics=_frozen(
            {
                "Set5": {"psnr_y": 31.88, "ssim_y": 0.8903},
                "Set14": {"psnr_y": 28.44, "ssim_y": 0.7772},
                "B100": {"psnr_y": 27.45, "ssim_y": 0.7313},
                "Urban100": {"psnr_y": 25.77, "ssim_y": 0.7732},
                "DIV2K_seed128": {
                    "psnr": 25.951,
                    "ssim": 0.769,
                    "int8_psnr": 25.258,
                    "int8_ssim": 0.752,
                },
            }
        ),
    )
    DEFAULT = OFFICIAL


class LESRCNN_Blind_Weights(_WeightsEnum):
    """Official blind (multi-scale) checkpoint ``lesrcnn_b/lesrcnn.pth``.

    No SHA256 is on record for it (the file was not available when this registry was written),
    so it is never downloaded or picked up automatically: give it by path.
    """

    OFFICIAL = WeightsRecord(
        name="lesrcnn_blind",
        scale=None,
        filename="lesrcnn.pth",
        url=f"{_REPO}/lesrcnn_b/lesrcnn.pth",
        sha256=None,
        num_params=1_254_104,  # two mean shifts + trunk + up2/up3/up4 heads (computed, see tests)
        metrics=_frozen(
            {
                "Set5_x2": {"psnr_y": 37.57, "ssim_y": 0.9582},
                "Set5_x3": {"psnr_y": 34.05, "ssim_y": 0.9238},
                "Set5_x4": {"psnr_y": 31.88, "ssim_y": 0.8907},
            }
        ),
    )
    DEFAULT = OFFICIAL


_BY_SCALE: dict[int | None, type[_WeightsEnum]] = {
    2: LESRCNN_X2_Weights,
    3: LESRCNN_X3_Weights,
    4: LESRCNN_X4_Weights,
    None: LESRCNN_Blind_Weights,
}


def get_weights(scale: int | None) -> WeightsRecord:
    """The DEFAULT record for ``scale`` (2, 3, 4; ``None`` for the blind model)."""
    if scale is not None:
        check_scale(scale)
    return _BY_SCALE[scale]["DEFAULT"].record


def list_weights() -> list[WeightsRecord]:
    """Every record in the registry, fixed scales first."""
    return [_BY_SCALE[s]["DEFAULT"].record for s in (2, 3, 4, None)]
