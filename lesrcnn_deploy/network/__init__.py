"""The LESRCNN network in PyTorch (official in-place-ReLU semantics, blind heads, fused upsample),
its cost (parameters, MACs, the card's Flops) and its export to ONNX. The build side only:
inference imports nothing here but :mod:`.facts` (tables, no PyTorch).
"""
