"""Foundations, imported by every other layer and importing none: errors, files and paths, the
vocabulary (scales, precisions, runtimes, tiles), ONNX metadata and session options, the machine
(CPU, ISA flags), library versions, optional extras and thread counts. No PyTorch here.
"""
