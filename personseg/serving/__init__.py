"""The model server: Open Inference Protocol v2 plus image-native endpoints, micro-batched.

Nothing here imports torch: ONNX models serve with ONNX Runtime alone, and PyTorch checkpoints go
through ``personseg.runtime.load_predictor``, which imports torch only when it needs it.
"""
