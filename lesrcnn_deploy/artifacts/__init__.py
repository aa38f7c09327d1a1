"""The default int8 models, shipped inside the package as release artifacts (data only).

``lesrcnn_x{2,3,4}_int8.onnx`` in this folder are what ``make quantize`` builds from the official
checkpoints and the committed recipes (``calibration/``), byte for byte; ``SHA256SUMS`` pins them
(``sha256sum -c SHA256SUMS`` works here). They are small (0.7-0.9 MB each) and change only when a
recipe or the exporter does, so they ship with the package: a runtime install runs them without
PyTorch, without a download and without building anything. ``make artifacts`` refreshes them from
a rebuild; ``tests/test_artifacts.py`` rebuilds them from the checkpoints and requires the same
SHA256, so they cannot drift from the recipes.

Inference opens them through :func:`lesrcnn_deploy.models.shipped`, which checks each file's
SHA256 once per process.
"""
