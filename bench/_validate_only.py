"""Baseline target for the submit benchmark: the same HTTP stack (functions-framework,
gunicorn, Flask) and the same request validation as `submit`, but no Firestore write and
no publish. `python -m functions_framework --source bench/_validate_only.py --target validate`
"""

from __future__ import annotations

import json
import uuid

import flask
import functions_framework

from imagegen.bootstrap import Services
from imagegen.domain.request import validate_request
from imagegen.errors import ImagegenError

_services = Services()


@functions_framework.http
def validate(request: flask.Request) -> flask.Response:
    try:
        body = json.loads(request.get_data(cache=False))
        validated = validate_request(body, _services.catalog, _services.policy)
    except ImagegenError as exc:
        return flask.Response(
            json.dumps(exc.to_json()), exc.http_status, mimetype="application/json"
        )
    job_id = uuid.uuid4().hex[:24]
    answer = {
        "id": job_id,
        "status": "queued",
        "model": validated.request.model,
        "status_url": f"http://{request.host}/v1/jobs/{job_id}",
    }
    return flask.Response(json.dumps(answer), 202, mimetype="application/json")
