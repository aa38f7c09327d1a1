"""Evaluation: quality metrics (PSNR, SSIM, Y, SQNR), the paper and seed128 scoring protocols, the
evaluation loop with its JSON result, and its text tables.
"""
