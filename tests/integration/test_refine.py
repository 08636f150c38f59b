"""Multi-turn refinement through the emulators and the Vertex stand-in: jobs are submitted
with `submission.submit` (which checks the parent with `refine.resolve_parent`) and run
in-process with the worker; the stand-in records the whole `contents` array each job sent."""

from __future__ import annotations

import base64
import io

import pytest
import requests
from PIL import Image

from devstack.vertex_standin import thought_signature
from imagegen.domain.job_view import JobView
from imagegen.errors import InvalidRequest, NotFound
from imagegen.services import submission
from imagegen.services.worker import generate

PRO = "gemini-3-pro-image"
FLASH = "gemini-3.1-flash-image"


def _submit(services, prompt, caller="anonymous", **body):
    return submission.submit(services, {"prompt": prompt, **body}, caller=caller).job


def _run(services, prompt, caller="anonymous", **body):
    job = _submit(services, prompt, caller=caller, **body)
    assert generate(services, job.id) == "succeeded"
    return services.jobs.get(job.id)


def _sent(vertex_url, job_id):
    got = requests.get(f"{vertex_url}/_standin/requests", timeout=5).json()
    [record] = [r for r in got if (r["body"].get("labels") or {}).get("imagegen-job") == job_id]
    return record["body"]


def _file(uri, mime="image/png", signature=None):
    part = {"fileData": {"fileUri": uri, "mimeType": mime}}
    if signature:
        part["thoughtSignature"] = signature
    return part


def _pro_model_turn(job, prompt):
    """What the stand-in's Pro model answered to `prompt` (an image only: no text was asked
    for), as it must be sent back."""
    return {
        "role": "model",
        "parts": [_file(job.outputs[0].uri, signature=thought_signature(PRO, prompt, 1))],
    }


def _turns(job):
    """A job's stored conversation in its JSON form (what is sent to Vertex)."""
    return [turn.to_json() for turn in job.conversation]


def _user(prompt, *parts):
    return {"role": "user", "parts": [*parts, {"text": prompt}]}


def test_three_turn_chain_sends_five_turns_in_order(make_services, idle_queue, unique, vertex_url):
    services = make_services(tasks_queue=idle_queue)
    p1, p2, p3 = (f"{unique} {text}" for text in ("a lighthouse", "at night", "in snow"))
    first = _run(services, p1, model=PRO)
    second = _run(services, p2, model=PRO, parent_job_id=first.id)
    third_job = _submit(services, p3, model=PRO, parent_job_id=second.id)
    assert third_job.parent_job_id == second.id
    assert generate(services, third_job.id) == "succeeded"
    third = services.jobs.get(third_job.id)

    contents = _sent(vertex_url, third.id)["contents"]
    expected = [
        _user(p1),
        _pro_model_turn(first, p1),
        _user(p2),
        _pro_model_turn(second, p2),
        _user(p3),
    ]
    assert contents == expected
    assert [t["role"] for t in contents] == ["user", "model", "user", "model", "user"]
    assert contents[1]["parts"][0]["fileData"]["fileUri"] == (
        f"gs://{services.settings.outputs_bucket}/jobs/{first.id}/0.png"
    )
    # every job stores its whole conversation, so any of them can be continued
    assert _turns(third) == [*expected, _pro_model_turn(third, p3)]
    assert _turns(first) == expected[:2]
    view = JobView.of(third).to_json()
    assert view["parent_job_id"] == second.id and "conversation" not in view


def test_a_branch_from_the_first_job(make_services, idle_queue, unique, vertex_url):
    services = make_services(tasks_queue=idle_queue)
    p1, p2, p3 = (f"{unique} {text}" for text in ("a fox", "make it red", "make it blue"))
    first = _run(services, p1, model=PRO)
    red = _run(services, p2, model=PRO, parent_job_id=first.id)
    blue = _run(services, p3, model=PRO, parent_job_id=first.id)
    base = [_user(p1), _pro_model_turn(first, p1)]
    assert _sent(vertex_url, red.id)["contents"] == [*base, _user(p2)]
    assert _sent(vertex_url, blue.id)["contents"] == [*base, _user(p3)]
    assert _turns(services.jobs.get(first.id)) == base  # the parent is unchanged


def test_a_job_routed_from_imagen_can_be_continued(make_services, idle_queue, unique):
    """An Imagen name is served by Gemini today, so its job has a conversation to continue."""
    services = make_services(tasks_queue=idle_queue)
    old = _run(services, f"{unique} a fox", model="imagen-4.0-fast-generate-001")
    assert old.served_model == FLASH
    more = _run(services, f"{unique} redder", parent_job_id=old.id)
    assert more.parent_job_id == old.id


def test_refine_of_a_failed_job_is_refused(make_services, idle_queue, unique):
    services = make_services(tasks_queue=idle_queue)
    failed = _submit(services, f"[[fail:400x1]] {unique}")
    assert generate(services, failed.id) == "failed"
    queued = _submit(services, f"{unique} still queued")
    for parent, state in ((failed, "failed"), (queued, "queued")):
        with pytest.raises(InvalidRequest) as err:
            _submit(services, f"{unique} again", parent_job_id=parent.id)
        assert err.value.details == [
            {
                "field": "parent_job_id",
                "message": f"job {parent.id} is {state}; only a succeeded job can be continued",
            }
        ]


def test_refine_of_another_callers_job_is_not_found(make_services, idle_queue, unique):
    services = make_services(tasks_queue=idle_queue)
    theirs = _run(services, f"{unique} a secret", caller="alice@example.com")
    with pytest.raises(NotFound) as other:
        _submit(services, f"{unique} mine now", caller="bob@example.com", parent_job_id=theirs.id)
    with pytest.raises(NotFound) as missing:
        _submit(services, f"{unique} x", caller="bob@example.com", parent_job_id="nosuchjob")
    assert other.value.http_status == 404
    # the same answer as for a job that does not exist
    assert other.value.to_json()["error"]["details"] == [
        {"field": "parent_job_id", "message": f"no job {theirs.id}"}
    ]
    assert missing.value.to_json()["error"]["details"] == [
        {"field": "parent_job_id", "message": "no job nosuchjob"}
    ]
    # the owner may continue it
    mine = _run(services, f"{unique} more", caller="alice@example.com", parent_job_id=theirs.id)
    assert mine.parent_job_id == theirs.id


def test_a_chain_over_the_image_limit_drops_the_oldest(
    make_services, idle_queue, unique, vertex_url, stack_env
):
    """A model taking 3 input images (a catalog override of Nano Banana 2): turn 1 has a
    gs:// and an inline reference and makes one image (3); turn 2 adds one reference (4),
    so the oldest goes."""
    import json

    from imagegen.domain.catalog import load_catalog

    three = load_catalog()[FLASH].model_dump(mode="json") | {"max_reference_images": 3}
    services = make_services(tasks_queue=idle_queue, catalog_json=json.dumps([three]))
    uploads = stack_env["IMAGEGEN_UPLOADS_BUCKET"]
    outputs = services.settings.outputs_bucket
    refs = []
    for n, colour in enumerate(("white", "black")):
        png = io.BytesIO()
        Image.new("RGB", (8, 8), colour).save(png, "PNG")
        services.storage.write(uploads, f"refs/{unique}-{n}.png", png.getvalue(), "image/png")
        refs.append((f"gs://{uploads}/refs/{unique}-{n}.png", png.getvalue()))
    inline = base64.b64encode(refs[1][1]).decode()

    p1, p2 = f"{unique} combine these", f"{unique} now with a third"
    first = _run(services, p1, reference_images=[{"gcs_uri": refs[0][0]}, {"data": inline}])
    stored_inline = f"gs://{outputs}/jobs/{first.id}/inputs/1.png"
    assert _turns(first)[0] == _user(p1, _file(refs[0][0]), _file(stored_inline))
    assert "inlineData" not in str(_turns(first))  # references, never bytes

    second_job = _submit(
        services, p2, parent_job_id=first.id, reference_images=[{"gcs_uri": refs[1][0]}]
    )
    [warning] = [w for w in second_job.warnings if "input images" in w]
    assert "4 input images" in warning and "1 oldest" in warning
    assert services.jobs.get(second_job.id).warnings == second_job.warnings
    assert generate(services, second_job.id) == "succeeded"
    contents = _sent(vertex_url, second_job.id)["contents"]
    first_output = first.outputs[0].uri
    assert contents == [
        _user(p1, _file(stored_inline)),  # the gs:// reference of turn 1 was dropped
        {
            "role": "model",
            "parts": [_file(first_output, signature=thought_signature(FLASH, p1, 1))],
        },
        _user(p2, _file(refs[1][0])),
    ]
    assert sum("fileData" in p for t in contents for p in t["parts"]) == 3


def test_thoughts_are_kept_when_asked_and_not_sent_back(
    make_services, idle_queue, unique, vertex_url
):
    services = make_services(tasks_queue=idle_queue)
    p1, p2 = f"{unique} a castle", f"{unique} add a moat"
    first = _run(services, p1, model=PRO, include_thoughts=True)
    assert _sent(vertex_url, first.id)["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True
    }
    assert first.thoughts == [f"(stand-in thought) Planning: {p1}"]
    assert JobView.of(first).to_json()["thoughts"] == first.thoughts
    second = _run(services, p2, model=PRO, parent_job_id=first.id)
    assert "thoughts" not in second  # not asked for
    contents = _sent(vertex_url, second.id)["contents"]
    assert contents[:2] == [_user(p1), _pro_model_turn(first, p1)]
    assert "stand-in thought" not in str(contents)


def test_continuing_with_another_model_leaves_signatures_out(
    make_services, idle_queue, unique, vertex_url
):
    services = make_services(tasks_queue=idle_queue)
    p1, p2 = f"{unique} a bridge", f"{unique} at dawn"
    first = _run(services, p1, model=PRO)
    job = _submit(services, p2, model=FLASH, parent_job_id=first.id)
    assert any(PRO in w for w in job.warnings)
    assert generate(services, job.id) == "succeeded"
    contents = _sent(vertex_url, job.id)["contents"]
    assert contents[1] == {"role": "model", "parts": [_file(first.outputs[0].uri)]}


# ---------------------------------------------------------------------- the CLI, over HTTP


@pytest.mark.stack
def test_cli_refine_and_history_through_the_stack(api_url, unique, tmp_path):
    import json

    from click.testing import CliRunner

    from imagegen_client.cli import cli
    from imagegen_client.cli.exit_codes import EXIT_OK, EXIT_USAGE
    from imagegen_client.client import Client

    def run(*args, caller="cli-refine"):
        return CliRunner().invoke(
            cli, ["--url", api_url, "--caller", caller, "--json", *args], catch_exceptions=False
        )

    with Client(api_url, caller="cli-refine") as client:
        first = client.wait(client.submit({"prompt": f"{unique} a kite", "model": PRO})["id"])
    assert first["state"] == "succeeded"

    result = run("refine", first["id"], f"{unique} in the rain", "--out", str(tmp_path))
    assert result.exit_code == EXIT_OK, result.output
    second = json.loads(result.output)
    assert second["parent_job_id"] == first["id"]
    assert second["model"] == PRO  # the parent's model, without --model
    assert [p.rsplit("/", 1)[-1] for p in second["files"]] == ["0.png"]

    result = run("refine", second["id"], f"{unique} at night", "--no-wait")
    third = json.loads(result.output)
    with Client(api_url, caller="cli-refine") as client:
        client.wait(third["id"])

    history = json.loads(run("history", third["id"]).output)["chain"]
    assert [job["id"] for job in history] == [first["id"], second["id"], third["id"]]
    assert [job["request"]["prompt"] for job in history] == [
        f"{unique} a kite",
        f"{unique} in the rain",
        f"{unique} at night",
    ]
    plain = CliRunner().invoke(
        cli, ["--url", api_url, "--caller", "cli-refine", "history", third["id"]]
    )
    assert plain.exit_code == 0 and first["id"] in plain.output

    result = run("refine", first["id"], f"{unique} not yours", caller="someone-else")
    assert result.exit_code == EXIT_USAGE
    assert json.loads(result.output)["error"]["status"] == 404
