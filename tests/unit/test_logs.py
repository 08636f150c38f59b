"""Structured logs: one JSON object a line with severity, message and the extra fields."""

import ast
import json
import logging
from pathlib import Path

from imagegen import logs

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def test_json_line_has_severity_message_and_fields(capsys):
    record = logging.makeLogRecord(
        {"levelname": "WARNING", "msg": "hello %s", "args": ("x",), "name": "t", "job_id": "j1"}
    )
    line = logs.JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["severity"] == "WARNING" and entry["message"] == "hello x"
    assert entry["job_id"] == "j1" and "\n" not in line


def test_trace_header_links_to_cloud_trace():
    logs.set_trace("abc123/1;o=1", "proj")
    entry = json.loads(logs.JsonFormatter().format(logging.makeLogRecord({"msg": "m"})))
    assert entry["logging.googleapis.com/trace"] == "projects/proj/traces/abc123"
    logs.set_trace(None, "proj")


def test_no_log_call_overwrites_a_log_record_attribute():
    """logging raises KeyError for extra={"created": ...} and the like, at run time only."""
    reserved = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
    clashes = []
    for path in FUNCTIONS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.keyword)
                and node.arg == "extra"
                and isinstance(node.value, ast.Dict)
            ):
                keys = {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
                clashes += [f"{path.name}:{node.value.lineno} {k}" for k in keys & reserved]
    assert not clashes
