"""The `imagegen` CLI against the whole local stack (functions, emulators, Vertex stand-in).

The CLI runs in-process through click's CliRunner; the `stack` fixture has put the stack's
environment (STORAGE_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT, ...) into os.environ, so the
downloads read the storage emulator exactly as a user's shell would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image

from imagegen_client.cli import cli
from imagegen_client.cli.exit_codes import (
    EXIT_BLOCKED,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
)
from imagegen_client.cli.sheet import sheet_layout
from imagegen_client.client import ApiError, Client

pytestmark = pytest.mark.stack


@pytest.fixture
def run(api_url):
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(
            cli, ["--url", api_url, "--caller", "cli-e2e", *args], catch_exceptions=False
        )

    return invoke


@pytest.fixture
def client(api_url):
    with Client(api_url, caller="cli-e2e") as c:
        yield c


def _sizes(paths: list[Path]) -> list[tuple[int, int]]:
    sizes = []
    for path in paths:
        with Image.open(path) as image:
            sizes.append(image.size)
    return sizes


@pytest.mark.parametrize(
    ("model", "ratio", "size", "n", "pixels"),
    [
        ("gemini-3.1-flash-image", "16:9", None, 1, (1376, 768)),
        ("gemini-3.1-flash-lite-image", "3:2", None, 2, (1264, 848)),
        ("gemini-3-pro-image", "1:1", "2K", 1, (2048, 2048)),
    ],
)
def test_generate_waits_and_downloads_images(run, tmp_path, unique, model, ratio, size, n, pixels):
    args = [
        "generate",
        f"cli e2e {unique}",
        "--model",
        model,
        "--aspect-ratio",
        ratio,
        "-n",
        str(n),
        "--out",
        str(tmp_path),
    ]
    if size:
        args += ["--size", size]
    result = run(*args)

    assert result.exit_code == EXIT_OK, result.output + result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("job ") and "queued" in first
    files = sorted(tmp_path.iterdir())
    assert len(files) == n
    assert _sizes(files) == [pixels] * n
    for path in files:  # the paths are printed, one a line
        assert str(path) in result.stdout


def test_generate_json_reports_job_and_files(run, tmp_path, unique):
    result = run("--json", "generate", f"json {unique}", "--out", str(tmp_path))

    assert result.exit_code == EXIT_OK, result.output
    body = json.loads(result.stdout)
    assert body["state"] == "succeeded"
    assert body["exit_code"] == 0
    assert [Path(p).name for p in body["files"]] == ["0.png"]
    assert Path(body["files"][0]).is_file()


def test_client_reads_a_gs_output_without_the_signed_url(client, unique):
    """The client's own gs:// read (google-cloud-storage, anonymous against the emulator; no
    server code) gives the bytes the signed URL serves; a missing object is a 404."""
    job = client.wait(client.submit({"prompt": f"gs read {unique}"})["id"], timeout=120)
    assert job["state"] == "succeeded"
    [output] = job["outputs"]
    assert output["uri"].startswith("gs://")

    by_uri = client.read_output(output["uri"])  # a bare URI: no signed URL to follow

    assert by_uri == client.read_output(output)  # through its signed url
    assert by_uri.startswith(b"\x89PNG")
    with pytest.raises(ApiError) as missing:
        client.read_output(output["uri"] + ".gone")
    assert missing.value.status == 404


def test_no_wait_then_status_then_get(run, tmp_path, unique):
    submitted = run("--json", "generate", f"later {unique} [[latency:1500]]", "--no-wait")
    assert submitted.exit_code == EXIT_OK, submitted.output
    job = json.loads(submitted.stdout)
    assert job["state"] in ("queued", "running")
    job_id = job["id"]

    status = run("--json", "status", job_id)
    assert status.exit_code == EXIT_OK
    assert json.loads(status.stdout)["id"] == job_id

    human = run("status", job_id)
    assert human.exit_code == EXIT_OK
    assert job_id in human.stdout

    got = run("get", job_id, "--wait", "--timeout", "120", "--out", str(tmp_path))
    assert got.exit_code == EXIT_OK, got.output + got.stderr
    assert _sizes(sorted(tmp_path.iterdir())) == [(1024, 1024)]


def test_get_and_status_show_each_images_content_credentials(run, client, tmp_path, unique):
    """`imagegen get` says, per image, what its Content Credentials are (stderr: stdout stays
    the files), and `imagegen status` shows the same row; the file itself validates."""
    job = client.submit({"prompt": f"signed {unique}", "model": "gemini-3-pro-image"})
    assert client.wait(job["id"], timeout=120)["state"] == "succeeded"

    got = run("get", job["id"], "--out", str(tmp_path))
    status = run("status", job["id"])

    assert got.exit_code == EXIT_OK, got.output + got.stderr
    assert "image 0: Content Credentials valid" in got.stderr
    assert "trainedAlgorithmicMedia" in got.stderr and "SynthID" in got.stderr
    assert got.stdout.strip() == str(tmp_path / "0.png")  # stdout: only the paths
    assert "provenance" in status.stdout and "Content Credentials valid" in status.stdout


def test_get_downloads_a_finished_job(run, client, tmp_path, unique):
    job = client.submit({"prompt": f"get {unique}", "aspect_ratio": "9:16", "number_of_images": 2})
    done = client.wait(job["id"], timeout=120)
    assert done["state"] == "succeeded"

    result = run("get", job["id"], "--out", str(tmp_path / "x"))

    assert result.exit_code == EXIT_OK, result.output + result.stderr
    files = sorted((tmp_path / "x").iterdir())
    assert [p.name for p in files] == ["0.png", "1.png"]
    assert _sizes(files) == [(768, 1376)] * 2


def test_bad_request_is_shown_field_by_field_with_exit_2(run, unique):
    result = run(
        "generate",
        f"bad {unique}",
        "--model",
        "gemini-3.1-flash-lite-image",
        "--aspect-ratio",
        "7:3",
        "--size",
        "4K",
        "-n",
        "5",
    )

    assert result.exit_code == EXIT_USAGE
    assert result.stdout == ""  # nothing was submitted, so no job id
    lines = [line.strip() for line in result.stderr.splitlines()]
    assert any(line.startswith("error (400 invalid_request)") for line in lines)
    assert any(line.startswith("aspect_ratio: ") for line in lines), result.stderr
    assert any(line.startswith("image_size: ") for line in lines), result.stderr
    assert any(line.startswith("number_of_images: ") for line in lines), result.stderr


def test_bad_request_json_carries_the_details(run, unique):
    result = run("--json", "generate", f"bad {unique}", "--aspect-ratio", "7:3")

    assert result.exit_code == EXIT_USAGE
    body = json.loads(result.stdout)
    assert body["error"]["status"] == 400
    assert [d["field"] for d in body["error"]["details"]] == ["aspect_ratio"]


def test_models_json(run):
    result = run("--json", "models")

    assert result.exit_code == EXIT_OK
    body = json.loads(result.stdout)
    ids = {m["id"] for m in body["models"]}
    assert {
        "gemini-3.1-flash-image",
        "gemini-3.1-flash-lite-image",
        "gemini-3-pro-image",
        "imagen-4.0-generate-001",  # retired, listed with its replacement
    } <= ids
    assert body["default"] == "gemini-3.1-flash-image"


def test_models_table(run):
    result = run("models")
    assert result.exit_code == EXIT_OK
    assert "gemini-3-pro-image" in result.stdout
    assert "1K/2K $0.134, 4K $0.240" in result.stdout
    assert "retired names (route)" in result.stdout
    assert "imagen-4.0-fast-generate-001" in result.stdout and "MINIMAL" in result.stdout


def test_cancel_of_a_finished_job_is_409_exit_2(run, client, unique):
    job = client.submit({"prompt": f"cancel {unique}"})
    assert client.wait(job["id"], timeout=120)["state"] == "succeeded"

    result = run("cancel", job["id"])

    assert result.exit_code == EXIT_USAGE
    assert "409" in result.stderr

    as_json = run("--json", "cancel", job["id"])
    assert as_json.exit_code == EXIT_USAGE
    assert json.loads(as_json.stdout)["error"]["status"] == 409


def test_unknown_job_exit_2(run):
    result = run("status", "no-such-job-0000")
    assert result.exit_code == EXIT_USAGE
    assert "404" in result.stderr


def test_blocked_job_exit_3(run, tmp_path, unique):
    result = run("generate", f"blocked {unique} [[block:IMAGE_SAFETY]]", "--out", str(tmp_path))
    assert result.exit_code == EXIT_BLOCKED, result.output + result.stderr
    assert not any(tmp_path.iterdir())


def test_wait_timeout_exit_5_prints_the_job_id(run, client, unique):
    result = run("generate", f"slow {unique} [[latency:4000]]", "--timeout", "0.5")

    assert result.exit_code == EXIT_TIMEOUT, result.output + result.stderr
    job_id = result.stdout.split()[1]
    assert result.stdout.strip().splitlines()[-1] == job_id
    assert job_id in result.stderr
    # the job carries on and finishes
    assert client.wait(job_id, timeout=120)["state"] == "succeeded"


def test_unreachable_api_exit_4():
    result = CliRunner().invoke(cli, ["--url", "http://127.0.0.1:9", "models"])
    assert result.exit_code == EXIT_UNAVAILABLE
    assert "cannot reach" in result.stderr


def test_sheet_has_the_expected_pixel_size(run, client, tmp_path, unique):
    a = client.submit(
        {
            "prompt": f"sheet a {unique}",
            "model": "gemini-3.1-flash-image",
            "aspect_ratio": "16:9",
            "number_of_images": 2,
        }
    )
    b = client.submit(
        {"prompt": f"sheet b {unique}", "model": "gemini-3.1-flash-image", "aspect_ratio": "9:16"}
    )
    for job in (a, b):
        assert client.wait(job["id"], timeout=120)["state"] == "succeeded"
    out = tmp_path / "sheet.png"

    result = run("--json", "sheet", a["id"], b["id"], "--out", str(out), "--columns", "2")

    assert result.exit_code == EXIT_OK, result.output + result.stderr
    layout = sheet_layout(3, columns=2, thumb=384)
    with Image.open(out) as image:
        assert image.size == (layout.width, layout.height) == (816, 940)
    body = json.loads(result.stdout)
    assert body["images"] == 3
    assert (body["width"], body["height"]) == (816, 940)


def test_usage_reports_the_callers_jobs(api_url, unique):
    import datetime as dt

    caller = f"usage-cli-{unique}"
    with Client(api_url, caller=caller) as c:
        job = c.submit(
            {
                "prompt": f"usage {unique}",
                "model": "gemini-3.1-flash-lite-image",
                "number_of_images": 2,
            }
        )
        assert c.wait(job["id"], timeout=120)["state"] == "succeeded"
    runner = CliRunner()
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    day = ["--day", today]
    result = runner.invoke(
        cli,
        # usage is the caller's own: ask as that caller (the global --caller)
        ["--url", api_url, "--caller", caller, "--json", "usage", "--caller", caller, *day],
        catch_exceptions=False,
    )
    assert result.exit_code == EXIT_OK
    body = json.loads(result.stdout)
    assert body["total"]["jobs"] == 1 and body["total"]["images_produced"] == 2
    assert body["total"]["cost_usd"] == pytest.approx(2 * 0.0336)
    table = runner.invoke(
        cli,
        ["--url", api_url, "--caller", caller, "usage", "--caller", caller],
        catch_exceptions=False,
    )
    assert table.exit_code == EXIT_OK and "gemini-3.1-flash-lite-image" in table.stdout
    bad = runner.invoke(cli, ["--url", api_url, "usage", "--day", "nope"])
    assert bad.exit_code == EXIT_USAGE


@pytest.fixture
def sweeper():
    """The scheduler's sweep, every 0.3 s in a thread, as Cloud Scheduler would run it."""
    import threading
    import time

    from imagegen.bootstrap import Services
    from imagegen.config import load_settings
    from imagegen.services.upkeep import sweep

    services, stop = Services(load_settings()), threading.Event()

    def loop() -> None:
        while not stop.is_set():
            sweep(services)
            time.sleep(0.3)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)


def test_batch_submit_wait_get_and_download_with_a_contact_sheet(run, tmp_path, unique, sweeper):
    jsonl = tmp_path / "batch.jsonl"
    lines = [{"prompt": f"{unique} tile {n}", "aspect_ratio": "1:1"} for n in range(4)]
    jsonl.write_text("\n".join(json.dumps(line) for line in [*lines, {"prompt": ""}]))
    submitted = run("batch", "submit", str(jsonl), "--wait", "--timeout", "120")
    assert submitted.exit_code == EXIT_OK, submitted.output
    assert "4 items" in submitted.output and "line 5 rejected" in submitted.output
    batch_id = submitted.output.split()[1]
    shown = run("--json", "batch", "get", batch_id, "--items")
    batch = json.loads(shown.output)
    assert batch["state"] == "succeeded" and len(batch["items"]) == 4
    out = tmp_path / "images"
    fetched = run("--json", "batch", "download", batch_id, "--out", str(out), "--columns", "2")
    result = json.loads(fetched.output)
    assert fetched.exit_code == EXIT_OK and len(result["files"]) == 4
    assert sorted(Path(f).name.split("-")[0] for f in result["files"]) == [
        "00001",
        "00002",
        "00003",
        "00004",
    ]
    assert _sizes([Path(f) for f in result["files"]]) == [(1024, 1024)] * 4
    layout = sheet_layout(4, columns=2, thumb=256)
    with Image.open(result["sheet"]) as sheet:
        assert sheet.size == (layout.width, layout.height)
