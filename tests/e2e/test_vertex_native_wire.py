"""What imagegen sends to Vertex for a native `:generateContent` request is what the caller
sent, field for field (issue 28): a request with every field of `GenerateContentRequest` set
(the aiplatform_v1 message of google-cloud-aiplatform 2.7.0, walked recursively: every field
of every message it holds, one part per kind of part) goes through the local stack, and the
stand-in must receive it as sent — but for the labels (the job's added) and the model path
(the routed model, in the deployment's project). The only fields refused are the ones
imagegen refuses on purpose, each named in the 400 (REFUSED), and the test fails if a field
of the message is neither covered nor listed.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import random
import uuid

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.aiplatform_v1.types import GenerateContentRequest
from google.protobuf.descriptor import FieldDescriptor
from PIL import Image

pytestmark = pytest.mark.stack
MODEL = "gemini-3.1-flash-image"

# Images anywhere but contents[].parts[] are refused (they would skip the bucket and bytes
# checks): the function response's own parts are the one such place in the message.
REFUSED = {"contents[1].parts[4].functionResponse.parts"}


def _png() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


PNG = _png()
# values the catalog rules check (NB2 takes them); every other field gets a generic value
OVERRIDES = {
    "aspectRatio": "16:9",
    "imageSize": "1K",
    "personGeneration": "ALLOW_ADULT",
    "thinkingLevel": "HIGH",
    "candidateCount": 1,
    "compressionQuality": 80,
    "mimeType": "image/png",
    "responseModalities": ["TEXT", "IMAGE"],
    "labels": {"team": "art"},
}
WELL_KNOWN = {
    "google.protobuf.Value": {"any": [1, {"nested": [[1, 2], ["a"]]}]},  # arrays in arrays
    "google.protobuf.Struct": {"key": {"list": [[1], [2]]}},
    "google.protobuf.Duration": "1.5s",
    "google.protobuf.Timestamp": "2026-12-06T00:00:00Z",
    "google.protobuf.FieldMask": "a.b",
    "google.protobuf.ListValue": [1, "two", [3]],
}


def value(field: FieldDescriptor, path: tuple[str, ...], seen: set[str], pick: int = 0) -> object:
    """A JSON value for one field (a list of one or more for a repeated one)."""
    name = field.json_name
    if name in OVERRIDES:
        return OVERRIDES[name]
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        entry = field.message_type.fields_by_name["value"]
        return {"key": single(entry, (*path, name), seen, pick)}
    if field.is_repeated:
        if field.message_type is not None and field.message_type.full_name not in WELL_KNOWN:
            return variants(field.message_type, (*path, name), seen, pick) or [{}]
        return [single(field, (*path, name), seen, pick)]
    return single(field, (*path, name), seen, pick)


def single(field: FieldDescriptor, path: tuple[str, ...], seen: set[str], pick: int = 0) -> object:
    kind = field.type
    if field.message_type is not None:
        full = field.message_type.full_name
        if full in WELL_KNOWN:
            return copy.deepcopy(WELL_KNOWN[full])
        return message(field.message_type, path, seen, pick)
    if field.enum_type is not None:
        names = [v.name for v in field.enum_type.values if v.number != 0]
        return names[0] if names else field.enum_type.values[0].name
    if kind == FieldDescriptor.TYPE_BOOL:
        return True
    if kind == FieldDescriptor.TYPE_STRING:
        return f"{field.json_name}-text"
    if kind == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(f"{field.json_name}-bytes".encode()).decode()
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return 0.5
    if kind in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64):
        return "7"
    return 7


def message(
    descriptor, path: tuple[str, ...], seen: set[str], oneof_pick: int = 0, force: int | None = None
) -> dict:
    """Every field of a message (one member of each oneof: `oneof_pick`), a type already on
    the path left empty (recursive schemas)."""
    if descriptor.full_name in seen:
        return {}
    seen = seen | {descriptor.full_name}
    out: dict = {}
    for oneof in descriptor.oneofs:
        members = list(oneof.fields)
        if members:
            # request `oneof_pick` takes the first members; later ones draw independently
            # per oneof (seeded: the same every run), so nested and sibling oneofs meet in
            # different pairings
            where = "/".join((*path, oneof.name))
            draw = random.Random(f"{oneof_pick}:{where}").randrange(len(members))
            chosen = members[min(oneof_pick, len(members) - 1) if oneof_pick < 2 else draw]
            if force is not None and oneof is descriptor.oneofs[0]:
                chosen = members[min(force, len(members) - 1)]
            out[chosen.json_name] = value(chosen, path, seen, oneof_pick)
    for field in descriptor.fields:
        if field.containing_oneof is None:
            out[field.json_name] = value(field, path, seen, oneof_pick)
    return out


def variants(descriptor, path: tuple[str, ...], seen: set[str], pick: int = 0) -> list[dict]:
    """One element per member of the message's first oneof, so a list covers them all (the
    Part kinds: text, inlineData, fileData, functionCall, ...)."""
    picks = max((len(o.fields) for o in descriptor.oneofs), default=1)
    if picks == 1:
        return [message(descriptor, path, seen, pick)]
    return [message(descriptor, path, seen, pick, force=n) for n in range(picks)]


def full_request(tag: str, bucket: str, pick: int = 0) -> dict:
    """The request with every field set; a singular field's oneof takes its member `pick`
    (the requests for 0, 1, 2, ... cover every member between them)."""
    body = message(GenerateContentRequest.pb().DESCRIPTOR, (), set(), pick)
    body.pop("model")  # the path names it
    body.pop("cachedContent")  # a cache holds a model's own context: not for image models
    parts = body["contents"][0]["parts"]
    for part in parts:
        if "inlineData" in part:
            part["inlineData"].update({"mimeType": "image/png", "data": PNG})
        if "fileData" in part:
            part["fileData"].update(
                {"mimeType": "image/png", "fileUri": f"gs://{bucket}/refs/{tag}.png"}
            )
    user = {"role": "user", "parts": [{"text": f"{tag} a lighthouse"}, parts[1], parts[2]]}
    model_turn = {"role": "model", "parts": parts}
    body["contents"] = [user, model_turn, {"role": "user", "parts": [{"text": f"{tag} again"}]}]
    body["systemInstruction"] = {"role": "user", "parts": [{"text": "flat colours"}]}
    body["tools"] = [{**t, "googleSearch": t.get("googleSearch") or {}} for t in body["tools"]]
    return body


def covered(descriptor, body, seen=frozenset()) -> set[str]:
    """The fields of the message (recursively) that `body` sets somewhere."""
    found: set[str] = set()
    if descriptor.full_name in seen:
        return found
    items = body if isinstance(body, list) else [body]
    for item in items:
        if not isinstance(item, dict):
            continue
        for field in descriptor.fields:
            if field.json_name in item:
                found.add(f"{descriptor.full_name}.{field.name}")
                sub = field.message_type
                if sub is not None and not sub.GetOptions().map_entry:
                    found |= covered(sub, item[field.json_name], seen | {descriptor.full_name})
    return found


def reachable(descriptor, seen=frozenset()) -> set[str]:
    out: set[str] = set()
    if descriptor.full_name in seen or descriptor.full_name in WELL_KNOWN:
        return out
    for field in descriptor.fields:
        out.add(f"{descriptor.full_name}.{field.name}")
        sub = field.message_type
        if sub is not None and not sub.GetOptions().map_entry:
            out |= reachable(sub, seen | {descriptor.full_name})
    return out


MAX_REQUESTS = 12


def test_every_field_reaches_vertex_as_sent(stack, stack_env, api_url, vertex_url):
    from devstack import idtokens

    tag = f"wire-{uuid.uuid4().hex[:8]}"
    bucket = stack_env["IMAGEGEN_UPLOADS_BUCKET"]
    descriptor = GenerateContentRequest.pb().DESCRIPTOR
    bodies: list[dict] = []
    seen: set[str] = set()
    while reachable(descriptor) - seen and len(bodies) < MAX_REQUESTS:  # until all are set
        bodies.append(full_request(f"{tag}-{len(bodies)}", bucket, len(bodies)))
        seen |= covered(descriptor, {**bodies[-1], "model": "m", "cachedContent": "c"})
    assert reachable(descriptor) - seen == set(), sorted(reachable(descriptor) - seen)

    token = idtokens.mint(stack.state_dir, "wire@example.com", stack.config.url("submit"))
    url = (
        f"{api_url}/v1beta1/projects/callers-project/locations/global/publishers/google/"
        f"models/{MODEL}:generateContent"
    )
    headers = {"Authorization": f"Bearer {token}", "Prefer": "wait=60"}
    refused = requests.post(url, json=bodies[0], headers=headers, timeout=90)
    assert refused.status_code == 400, refused.text[:2000]
    violations = refused.json()["error"]["details"][0]["fieldViolations"]
    assert {v["field"].split(".parts[")[0] + ".parts" for v in violations} == {
        field.split(".parts[")[0] + ".parts" for field in REFUSED
    }, violations

    # the gs:// inputs exist, as they must for Vertex (issue 31: a missing one is a 404)
    store = storage.Client(
        project=stack_env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials()
    )
    for pick in range(len(bodies)):
        blob = store.bucket(bucket).blob(f"refs/{tag}-{pick}.png")
        blob.upload_from_string(base64.b64decode(PNG), content_type="image/png")
    calls = []
    for pick, body in enumerate(bodies):
        sent = copy.deepcopy(body)
        sent["contents"][1]["parts"][4]["functionResponse"].pop("parts", None)
        answer = requests.post(url, json=sent, headers=headers, timeout=90)
        assert answer.status_code == 200, answer.text[:2000]
        job_id = answer.headers["X-Imagegen-Job-Id"]
        recorded = requests.get(f"{vertex_url}/_standin/requests", timeout=10).json()
        (received,) = [c for c in recorded if f"{tag}-{pick} " in json.dumps(c["body"])]
        labels = received["body"]["labels"]
        assert labels.pop("imagegen-job") == job_id
        assert received["body"] == sent  # every field, as sent
        assert (received["version"], received["location"], received["model"]) == (
            "v1beta1",
            "global",
            MODEL,
        )
        assert received["project"] == stack_env["GOOGLE_CLOUD_PROJECT"]
        calls.append(received)
    assert len(calls) == len(bodies)
