"""The input file of a Vertex AI batch prediction job (issue 29): one JSONL line a request,
`{"request": GenerateContentRequest}` (domain/batch_facts.py, BATCH_GCS_PAGE), the request
being the body an online call of the same job request sends (adapters/vertex_wire.py, which
tests/unit/test_genai_parity.py holds to google-genai's), with the line's key in its labels.

Its own adapter, apart from the Vertex batch client (adapters/vertex_batch.py): submit writes
the input files and must not import google-cloud-aiplatform (0.6 s of a cold start,
docs/architecture.md "Facts"), nor hold a Vertex role.
"""

from __future__ import annotations

import json

from imagegen.adapters.vertex_wire import gemini_body
from imagegen.domain.catalog import ModelSpec
from imagegen.domain.request import JobRequest


class VertexBatchInput:
    def input_line(self, spec: ModelSpec, req: JobRequest, labels: dict[str, str]) -> bytes:
        """One Vertex request of the input file, with the request's labels and the line's
        key (`domain.batch.LineKey`)."""
        body = gemini_body(req, spec)
        body["labels"] = {**req.labels, **labels}
        return json.dumps({"request": body}, separators=(",", ":")).encode() + b"\n"
