"""Third-party chatter kept off the terminal unless ``-v`` asks for it; our own log lines are untouched.

Python warnings (TorchScript's TracerWarning during ONNX export, deprecations) go to the ``py.warnings``
logger, shown only with ``-v``; personseg reports its own problems through logging and exceptions,
never ``warnings.warn``. Intel Neural Compressor logs every tuning step through its own handler
(``onnx_neural_compressor``, ``neural_compressor``), including an ERROR line for a config it merely
fails to pretty-print: a filter on those loggers (filters survive INC resetting its handlers and
level at import) keeps only CRITICAL without ``-v``; INC's real failures reach us as exceptions.
"""

from __future__ import annotations

import logging

INC_LOGGERS = ("onnx_neural_compressor", "neural_compressor")
# ONNX Runtime's own log: 2 = warnings (its default), 3 = errors only
ORT_QUIET_SEVERITY = 3


class _AtLeast(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


def quiet_third_party(verbose: bool) -> None:
    """Route Python warnings to the log (visible with ``verbose``); mute INC's info/warning/error chatter."""
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    if not verbose:
        for name in INC_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, _AtLeast) for f in logger.filters):
                logger.addFilter(_AtLeast(logging.CRITICAL))


def quiet_onnxruntime(verbose: bool) -> None:
    """ONNX Runtime's C++ warnings (repeated session options, optimized-model notes) only with ``verbose``."""
    if not verbose:
        import onnxruntime

        onnxruntime.set_default_logger_severity(ORT_QUIET_SEVERITY)
