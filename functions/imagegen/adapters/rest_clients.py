"""One `google.cloud.aiplatform_v1` client per API host, REST transport, made on first use
and kept for the instance's life (shared by the Vertex and Model Garden adapters; the
Model Garden list lives only in the `aiplatform_v1beta1` surface).

Production authenticates with Application Default Credentials (the function's service
account). An endpoint override (`IMAGEGEN_VERTEX_ENDPOINT`) points the very same client and
transport at the local stand-in instead; only then are credentials anonymous.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

import google.auth
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession

from imagegen.adapters.vertex_wire import api_host


class RestClients:
    def __init__(
        self, client_class: str, endpoint_override: str = "", module: str = "aiplatform_v1"
    ) -> None:
        self._class = client_class  # e.g. "PredictionServiceClient"
        self._module = module  # aiplatform_v1beta1 for methods only that surface has
        self._override = endpoint_override
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, location: str):
        host = self._override or api_host(location)
        with self._lock:
            client = self._clients.get(host)
            if client is None:
                # the surface is the caller's (aiplatform_v1 or v1beta1): named at run time
                surface = importlib.import_module(f"google.cloud.{self._module}")
                kwargs: dict[str, Any] = {}
                if self._override:
                    kwargs["credentials"] = AnonymousCredentials()
                client = getattr(surface, self._class)(
                    transport="rest", client_options={"api_endpoint": host}, **kwargs
                )
                self._clients[host] = client
        return client


class RestSessions:
    """One authorized HTTP session per API host, for calls whose reply is read as a stream
    (the Vertex adapter's `:generateContent`): google-auth's `AuthorizedSession` with
    Application Default Credentials, anonymous when an endpoint override points at the
    local stand-in. Returns the base URL with the session."""

    SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

    def __init__(self, endpoint_override: str = "") -> None:
        self._override = endpoint_override
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, location: str) -> tuple[str, Any]:
        host = self._override or api_host(location)
        base = host if host.startswith(("http://", "https://")) else f"https://{host}"
        with self._lock:
            session = self._sessions.get(base)
            if session is None:
                if self._override:
                    credentials: Any = AnonymousCredentials()
                else:
                    credentials, _ = google.auth.default(scopes=list(self.SCOPES))
                session = self._sessions[base] = AuthorizedSession(credentials)
        return base, session
