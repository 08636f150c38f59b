"""Structured logs: one JSON object per line on stdout, the shape Cloud Logging parses
(`severity`, `message`, plus `job_id` and any other fields as jsonPayload)."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from typing import Any

_trace: ContextVar[str | None] = ContextVar("imagegen_trace", default=None)

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname if record.levelname != "WARN" else "WARNING",
            "message": record.getMessage(),
            "logger": record.name,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        trace = _trace.get()
        if trace:
            entry["logging.googleapis.com/trace"] = trace
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(level: str = "INFO") -> None:
    """Send every log record, ours and the libraries', through the JSON formatter once, at
    `level` (the LOG_LEVEL setting, config.py)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def set_trace(header: str | None, project: str) -> None:
    """Tie this request's log lines to its Cloud Trace (X-Cloud-Trace-Context header)."""
    if header and project:
        _trace.set(f"projects/{project}/traces/{header.split('/')[0]}")
    else:
        _trace.set(None)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
