"""Logging for scripts written for the original script gateway.

ScriptGateway keeps a script's logs as the output of its runs (``GET /api/scripts/{id}/logs``
and each run's stderr), so a script logger writes to stderr, in the original's line format.
"""

import logging
import sys

__all__ = ["get_script_logger"]

_FORMAT = "%(asctime)s [%(levelname)s] %(message)s"


def get_script_logger(script_name: str) -> logging.Logger:
    """The logger ``script_<script_name>`` at INFO, writing to the run's stderr (made once)."""
    logger = logging.getLogger(f"script_{script_name}")
    if logger.handlers:
        return logger
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(handler)
    logger.propagate = False
    return logger
