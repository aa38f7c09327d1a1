"""The committed int8 recipes, installed as the package ``lesrcnn_deploy.recipes``.

Data only: ``lesrcnn_x{2,3,4}_int8.recipe.json`` (+ ``.recipe.npz``), written by
``lesrcnn-deploy quantize --retrain`` (``make finetune``) and replayed by ``make quantize``.
"""
