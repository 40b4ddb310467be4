"""INT8 post-training quantization: ONNX export, calibration, INC accuracy-aware tuning, the FP32 gate."""
