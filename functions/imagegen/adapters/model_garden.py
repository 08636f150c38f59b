"""Vertex AI Model Garden through `google.cloud.aiplatform_v1.ModelGardenServiceClient`
(REST transport, like the Vertex adapter): what Google says about a publisher model today,
without spending a generation call.

`GetPublisherModel` is `GET https://{host}/v1/publishers/google/models/{model}` and answers
a `PublisherModel` (`name`, `versionId`, `launchStage`: EXPERIMENTAL | PRIVATE_PREVIEW |
PUBLIC_PREVIEW | GA, ...) or 404 NOT_FOUND for a model Google no longer publishes
(https://cloud.google.com/vertex-ai/docs/reference/rest/v1/publishers.models and
https://cloud.google.com/ruby/docs/reference/google-cloud-ai_platform-v1/latest/Google-Cloud-AIPlatform-V1-PublisherModel-LaunchStage,
read 2026-11-25). `ListPublisherModels` is `GET https://{host}/v1beta1/publishers/google/models`
(paged: `pageSize`, `pageToken` -> `publisherModels`, `nextPageToken`), in the v1beta1
surface only (google-cloud-aiplatform 2.7.0: `aiplatform_v1beta1.ModelGardenServiceClient`,
`model_garden_service/transports/rest_base.py`); the client's pager follows the pages.
`IMAGEGEN_VERTEX_ENDPOINT` points the same clients at the local stand-in.
"""

from __future__ import annotations

from google.api_core import exceptions as gexc

from imagegen.adapters.rest_clients import RestClients
from imagegen.ports import PublisherModelState


class ModelGarden:
    def __init__(self, endpoint_override: str = "", timeout: float = 30.0) -> None:
        self._clients = RestClients("ModelGardenServiceClient", endpoint_override)
        self._beta = RestClients(
            "ModelGardenServiceClient", endpoint_override, module="aiplatform_v1beta1"
        )
        self._timeout = timeout

    def publisher_model(self, model_id: str, location: str) -> PublisherModelState:
        """The model's state; NotFound is an answer (found=False), other errors raise."""

        name = f"publishers/google/models/{model_id}"
        try:
            reply = self._clients.get(location).get_publisher_model(
                request={"name": name}, timeout=self._timeout, retry=None
            )
        except gexc.NotFound as exc:
            return PublisherModelState(model_id, found=False, message=str(exc.message)[:500])
        stage = reply.launch_stage.name if reply.launch_stage else None
        return PublisherModelState(
            model_id, found=True, launch_stage=stage, version_id=reply.version_id or None
        )

    def publisher_models(self, location: str) -> list[PublisherModelState]:
        """Every model Google publishes in Model Garden today (all pages)."""
        pager = self._beta.get(location).list_publisher_models(
            request={"parent": "publishers/google"}, timeout=self._timeout, retry=None
        )
        return [
            PublisherModelState(
                model.name.rsplit("/", 1)[-1],
                found=True,
                launch_stage=model.launch_stage.name if model.launch_stage else None,
                version_id=model.version_id or None,
            )
            for model in pager
        ]
