"""Inference without training code: the lean path for exported `.pb` / `.pbmm` models.

numpy_model.NumpyDeepSpeech runs the graph the official client runs (read by
dstorch.export.import_graph.read_graph) in numpy, so `dstorch transcribe` of an exported model
imports neither torch, scipy nor pandas: start-up is the client's, not a training stack's.
Nothing here imports torch; tests/inference/test_numpy_model.py checks that it stays so.
"""
