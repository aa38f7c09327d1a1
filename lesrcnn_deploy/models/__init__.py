"""The toolkit's models: where a model file lives, what it is, and how it runs, decided once.

* :mod:`.names`: the only file-name rule (``lesrcnn_x{S}[_int8].onnx``);
* :mod:`.record`: :class:`ModelFile`, the frozen record of an opened model (path, scale, file
  precision, metadata, SHA256), made by :func:`open_model`, the only reader and checker of a
  model's metadata;
* :mod:`.packaged`: the int8 models shipped in the package, SHA256-checked;
* :mod:`.find`: :func:`find`, the model an inference run uses (never builds, never imports
  PyTorch);
* :mod:`.build`: :func:`build`, the default models exported and replayed (for ``export``,
  ``quantize``, the benchmark, the gate and the tests; imported lazily);
* :mod:`.settings`: :class:`InferenceSettings`, the inference settings as one frozen value.
"""

from __future__ import annotations

from .find import find as find
from .names import int8_beside as int8_beside
from .names import model_file_name as model_file_name
from .names import model_path as model_path
from .names import recipe_file_name as recipe_file_name
from .record import ModelFile as ModelFile
from .record import as_record as as_record
from .record import open_model as open_model
from .settings import InferenceSettings as InferenceSettings
from .packaged import artifacts_dir as artifacts_dir
from .packaged import shipped as shipped
from .packaged import shipped_sha256 as shipped_sha256

__all__ = [
    "InferenceSettings",
    "ModelFile",
    "artifacts_dir",
    "as_record",
    "find",
    "int8_beside",
    "model_file_name",
    "model_path",
    "open_model",
    "recipe_file_name",
    "shipped",
    "shipped_sha256",
]
