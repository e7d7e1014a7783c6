"""Structured logs: one JSON object per line on stdout, so that a run's sut.log can be queried.

Call ``log.info("event_name", extra=fields(key=value, ...))``; records from libraries (psycopg's
pool, uvicorn) come out in the same shape with their message as the event.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson


def fields(**values: Any) -> dict[str, Any]:
    """The ``extra`` of a log call: named values that become keys of the JSON line."""
    return {"fields": values}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "event": record.getMessage()}
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
