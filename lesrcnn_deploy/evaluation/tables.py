"""Plain-text and Markdown tables of evaluation results."""

from __future__ import annotations

from .evaluate import EvaluationResult

__all__ = ["format_evaluation"]


def format_evaluation(result: EvaluationResult, *, per_image: bool = True) -> str:
    """A fixed-width table: one row per image (optional) and the mean row."""
    lines = [f"{result.dataset} x{result.scale}  protocol={result.protocol}  model={result.model}"]
    width = max([len(i.name) for i in result.images] + [4])
    lines.append(f"{'image':<{width}}  {'LR size':>9}  {'PSNR':>8}  {'SSIM':>7}")
    if per_image:
        for i in result.images:
            size = f"{i.lr_size[0]}x{i.lr_size[1]}"
            lines.append(f"{i.name:<{width}}  {size:>9}  {i.psnr:8.4f}  {i.ssim:7.4f}")
    lines.append(
        f"{'mean':<{width}}  {'n=' + str(result.n):>9}  {result.psnr:8.4f}  {result.ssim:7.4f}"
    )
    lines.append(
        f"(printed precision: {result.psnr:.2f} / {result.ssim:.4f}; {result.seconds:.1f} s)"
    )
    return "\n".join(lines)
