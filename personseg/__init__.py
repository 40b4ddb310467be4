"""personseg: person segmentation from training to an INT8 model served on Kubernetes.

The package never imports kfp, and its top level imports neither torch nor onnxruntime, so the
serving image (ONNX Runtime only) can use it without PyTorch installed.
"""

__version__ = "0.1.0"
