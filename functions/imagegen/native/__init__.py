"""Front doors onto the job pipeline (issue 28): the APIs people already call.

- `vertex_api`: Vertex AI's own `:generateContent` (google-genai, the REST API) and Imagen's
  `:predict` (the guide's `vertexai.preview.vision_models` code), answered in Vertex's shapes.
- `openai_api`: OpenAI's Images API (`/v1/images/generations`, `/v1/images/edits`).

Each door turns its request into an ordinary job request (`services.submission.submit`: the
same validation, pricing, budgets, idempotency and records as `POST /v1/jobs`), waits for the
job up to `IMAGEGEN_SYNC_WAIT_SECONDS`, and answers in its API's shape, errors included.
A Vertex-native request also travels with the job as it was sent (`Job.native_request`),
so the worker sends it to Vertex field for field (docs/architecture.md, "Front doors").
"""

from __future__ import annotations
