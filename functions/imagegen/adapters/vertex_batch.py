"""Vertex AI batch prediction through `google.cloud.aiplatform_v1.JobServiceClient`, REST
transport (the client family the online path uses), for issue 29.

- `create`: `POST /v1/projects/{p}/locations/{l}/batchPredictionJobs` with the
  `BatchPredictionJob` google-genai's `client.batches.create` sends for the same batch: the
  publisher model, `inputConfig {instancesFormat: jsonl, gcsSource {uris}}`, `outputConfig
  {predictionsFormat: jsonl, gcsDestination {outputUriPrefix}}`, a display name
  (tests/unit/test_genai_batch_parity.py compares the two); plus our labels, which `find`
  looks a job up by (`labels.<key>="<value>"` filters of ListBatchPredictionJobs), so a
  create that timed out after Vertex made the job is found instead of made twice.
- `get`, `cancel`: the job's resource name; cancel is asynchronous (CANCELLING, then
  CANCELLED), and the rows already done are still written (domain/batch_facts.py).
- The input file's lines: adapters/vertex_batch_input.py (submit writes them).
- `read_results`: an output file's lines as they are read (vertex_batch_results.py).

Errors are raised as the online adapter raises them (`vertex.classify`): 429 and 5xx
RetryableUpstream, 400/403/404 FinalUpstream. `IMAGEGEN_VERTEX_ENDPOINT` points the same
client at the local stand-in (devstack/vertex_batch_standin.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from imagegen.adapters.rest_clients import RestClients
from imagegen.adapters.vertex_batch_results import read_predictions
from imagegen.adapters.vertex_errors import classify
from imagegen.domain.batch import OpenLineImage, PredictionLine
from imagegen.domain.batch_facts import INPUT_FORMAT, OUTPUT_FORMAT
from imagegen.errors import RetryableUpstream
from imagegen.ports import VertexBatchJob

T = TypeVar("T")


class VertexBatches:
    def __init__(self, project: str, endpoint_override: str = "", timeout: float = 60.0) -> None:
        self._project = project
        self._clients = RestClients("JobServiceClient", endpoint_override)
        self._timeout = timeout

    # --- the job -----------------------------------------------------------------------

    def create(
        self,
        model: str,
        location: str,
        input_uri: str,
        output_prefix: str,
        display_name: str,
        labels: dict[str, str],
    ) -> VertexBatchJob:
        from google.cloud.aiplatform_v1 import types

        job = types.BatchPredictionJob(
            display_name=display_name,
            model=f"publishers/google/models/{model}",
            input_config=types.BatchPredictionJob.InputConfig(
                instances_format=INPUT_FORMAT,
                gcs_source=types.GcsSource(uris=[input_uri]),
            ),
            output_config=types.BatchPredictionJob.OutputConfig(
                predictions_format=OUTPUT_FORMAT,
                gcs_destination=types.GcsDestination(output_uri_prefix=output_prefix),
            ),
            labels=labels,
        )
        client = self._clients.get(location)
        parent = f"projects/{self._project}/locations/{location}"
        made = self._call(
            model,
            location,
            lambda: client.create_batch_prediction_job(
                parent=parent, batch_prediction_job=job, timeout=self._timeout, retry=None
            ),
        )
        return _job(made)

    def find(self, location: str, labels: dict[str, str]) -> VertexBatchJob | None:
        """The newest job of ours carrying every one of `labels`, if Vertex has one."""
        client = self._clients.get(location)
        query = " AND ".join(f'labels.{k}="{v}"' for k, v in sorted(labels.items()))
        parent = f"projects/{self._project}/locations/{location}"
        pages = self._call(
            "batchPredictionJobs",
            location,
            lambda: list(
                client.list_batch_prediction_jobs(
                    request={"parent": parent, "filter": query},
                    timeout=self._timeout,
                    retry=None,
                )
            ),
        )
        mine = [job for job in pages if all(job.labels.get(k) == v for k, v in labels.items())]
        if not mine:
            return None
        newest = max(mine, key=lambda job: job.create_time.timestamp() if job.create_time else 0)
        return _job(newest)

    def get(self, name: str) -> VertexBatchJob:
        client = self._clients.get(_location(name))
        got = self._call(
            name,
            _location(name),
            lambda: client.get_batch_prediction_job(name=name, timeout=self._timeout, retry=None),
        )
        return _job(got)

    def cancel(self, name: str) -> None:
        client = self._clients.get(_location(name))
        self._call(
            name,
            _location(name),
            lambda: client.cancel_batch_prediction_job(
                name=name, timeout=self._timeout, retry=None
            ),
        )

    # --- the output --------------------------------------------------------------------

    def read_results(
        self, chunks: Iterable[bytes], open_image: OpenLineImage, start: int = 0
    ) -> Iterator[PredictionLine]:
        return read_predictions(chunks, open_image, start)

    @staticmethod
    def _call(what: str, location: str, call: Callable[[], T]) -> T:
        from google.api_core import exceptions as gexc

        try:
            return call()
        except gexc.GoogleAPICallError as exc:
            raise classify(exc, what, location) from exc
        except Exception as exc:  # connection refused or reset, DNS, timeouts: transient
            if _transport_error(exc):
                message = f"{what} in {location}: {type(exc).__name__}: {exc}"
                raise RetryableUpstream(message) from exc
            raise


def _location(name: str) -> str:
    """`projects/p/locations/<l>/batchPredictionJobs/n` -> `<l>`."""
    parts = name.split("/")
    return parts[parts.index("locations") + 1] if "locations" in parts else "global"


def _transport_error(exc: Exception) -> bool:
    import requests
    from google.auth.exceptions import TransportError

    return isinstance(exc, requests.RequestException | TransportError | TimeoutError)


def _job(job: Any) -> VertexBatchJob:
    """The proto as the batch service reads it."""
    error = None
    if job.error and (job.error.code or job.error.message):
        error = {"code": int(job.error.code), "message": str(job.error.message)}
    stats = job.completion_stats
    counts = {
        "successful": int(stats.successful_count),
        "failed": int(stats.failed_count),
        "incomplete": int(stats.incomplete_count),
    }
    return VertexBatchJob(
        name=job.name,
        state=job.state.name if job.state else "JOB_STATE_UNSPECIFIED",
        output_dir=job.output_info.gcs_output_directory or None,
        error=error,
        counts=counts,
    )
