"""Helpers for the fault suite: submit a batch through the HTTP API, wait (bounded) for
every job, list the outputs bucket, count the Vertex stand-in's calls per job and the Cloud
Tasks stand-in's dispatches, inject its faults, run the sweeper in-process, and collect one
figures row per scenario (printed at the end of the run by `pytest_terminal_summary`, and
copied into docs/reliability.md).

The session fixtures (`stack`, `stack_env`, `api_url`, `vertex_url`, `unique`, `http`)
come from tests/conftest.py; nothing here redefines them."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

TERMINAL = {"succeeded", "blocked", "failed", "cancelled"}
# one row per scenario, in the order they ran
FIGURES: list[dict[str, Any]] = []
COLUMNS = (
    ("scenario", "scenario", "<"),
    ("jobs", "jobs", ">"),
    ("faults", "faults injected", "<"),
    ("lost", "lost", ">"),
    ("stuck", "stuck", ">"),
    ("duplicates", "duplicates", ">"),
    ("calls", "vertex calls", ">"),
    ("seconds", "seconds", ">"),
)


def figures_table(rows: list[dict[str, Any]]) -> list[str]:
    """The figures as a Markdown table (readable in a terminal too)."""
    head = [title for _, title, _ in COLUMNS]
    body = [[str(row.get(key, "")) for key, _, _ in COLUMNS] for row in rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        out = []
        for (_, _, align), cell, width in zip(COLUMNS, cells, widths, strict=True):
            out.append(cell.ljust(width) if align == "<" else cell.rjust(width))
        return "| " + " | ".join(out) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + ":") if a == ">" else ("-" * (w + 2))
        for (_, _, a), w in zip(COLUMNS, widths, strict=True)
    )
    rule += "|"
    return [line(head), rule, *(line(r) for r in body)]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not FIGURES:
        return
    terminalreporter.section("fault suite figures")
    for text in figures_table(FIGURES):
        terminalreporter.write_line(text)
    total = sum(row["seconds"] for row in FIGURES)
    terminalreporter.write_line(f"scenario time: {total:.1f} s")
    out = os.environ.get("IMAGEGEN_FAULTS_FIGURES")
    if out:  # machine-readable copy, for updating docs/reliability.md
        Path(out).write_text(json.dumps(FIGURES, indent=2))


@dataclass
class Outcome:
    """What a batch ended as, and the figures that go into the table."""

    jobs: dict[str, dict[str, Any]]  # id -> job as GET /v1/jobs/{id} shows it
    lost: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    objects: dict[str, list[str]] = field(default_factory=dict)  # id -> object names


class Faults:
    """The fault suite's view of the running stack."""

    def __init__(self, stack, stack_env, http, api_url: str, vertex_url: str) -> None:
        self.stack = stack
        self.env = stack_env
        self.http = http
        self.api_url = api_url
        self.vertex_url = vertex_url
        self.bucket = stack_env["IMAGEGEN_OUTPUTS_BUCKET"]
        self._storage = None

    # -- submitting -------------------------------------------------------------------------
    def submit(
        self, body: dict[str, Any], *, key: str | None = None, timeout: float = 20
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Idempotency-Key": key} if key else {}
        response = self.http.post(
            f"{self.api_url}/v1/jobs", json=body, headers=headers, timeout=timeout
        )
        try:
            payload = response.json()
        except ValueError:
            payload = {"raw": response.text[:300]}
        return response.status_code, payload

    def submit_batch(self, bodies: list[dict[str, Any]]) -> list[str]:
        ids = []
        for body in bodies:
            status, payload = self.submit(body)
            assert status == 202, f"submit answered {status}: {payload}"
            ids.append(payload["id"])
        return ids

    # -- reading ----------------------------------------------------------------------------
    def job(self, job_id: str) -> dict[str, Any] | None:
        response = self.http.get(f"{self.api_url}/v1/jobs/{job_id}", timeout=10)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return response.json()

    def wait_all(self, ids: list[str], timeout: float) -> Outcome:
        """Poll until every job is terminal or `timeout` s pass; never raises on a timeout
        (the caller asserts on lost/stuck, after recording the figures)."""
        end = time.monotonic() + timeout
        jobs: dict[str, dict[str, Any]] = {}
        lost: set[str] = set()
        pending = list(ids)
        while True:
            for job_id in list(pending):
                job = self.job(job_id)
                if job is None:
                    lost.add(job_id)
                    continue
                lost.discard(job_id)
                jobs[job_id] = job
                if job["state"] in TERMINAL:
                    pending.remove(job_id)
            if not pending or time.monotonic() > end:
                break
            time.sleep(0.4)
        stuck = [i for i in ids if i not in lost and jobs[i]["state"] not in TERMINAL]
        outcome = Outcome(jobs=jobs, lost=sorted(lost), stuck=stuck)
        outcome.objects = {i: self.objects(i) for i in ids}
        return outcome

    def objects(self, job_id: str) -> list[str]:
        """Names under jobs/<id>/ in the outputs bucket (the storage emulator)."""
        if self._storage is None:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            os.environ.setdefault("STORAGE_EMULATOR_HOST", self.env["STORAGE_EMULATOR_HOST"])
            self._storage = storage.Client(
                project=self.env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials()
            )
        blobs = self._storage.list_blobs(self.bucket, prefix=f"jobs/{job_id}/")
        return sorted(blob.name for blob in blobs)

    def calls(self, tag: str) -> list[dict[str, Any]]:
        """Every request the Vertex stand-in received whose body carries `tag`."""
        records = self.http.get(f"{self.vertex_url}/_standin/requests", timeout=10).json()
        return [r for r in records if tag in json.dumps(r["body"])]

    # -- the Cloud Tasks stand-in (issue 27) ---------------------------------------------
    def tasks_faults(self, **faults: int) -> None:
        """Faults of the tasks stand-in: duplicate / drop / unavailable (next N)."""
        url = f"{self.env['IMAGEGEN_TASKS_ENDPOINT']}/_standin/faults"
        self.http.post(url, json=faults, timeout=10).raise_for_status()

    def dispatches(self, ids: set[str]) -> list[dict[str, Any]]:
        """The tasks stand-in's dispatch log lines for these jobs (a task is named by its
        job id, or the job id and a suffix when the job was queued again)."""
        lines = self._log_lines("tasks", "dispatch")
        return [entry for entry in lines if entry["task"].split("-")[0] in ids]

    def _log_lines(self, component: str, event: str) -> list[dict[str, Any]]:
        """The JSON lines of a component's log with this `event`."""
        path = Path(self.env["DEVSTACK_STATE_DIR"]) / "logs" / f"{component}.log"
        out = []
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == event:
                out.append(entry)
        return out

    def queue_path(self, queue: str | None = None) -> str:
        env = self.env
        return (
            f"projects/{env['GOOGLE_CLOUD_PROJECT']}/locations/{env['IMAGEGEN_TASKS_LOCATION']}"
            f"/queues/{queue or env['IMAGEGEN_TASKS_QUEUE']}"
        )

    def relay_deliveries(self, ids: set[str]) -> list[dict[str, Any]]:
        """The relay's delivery log lines for these jobs (every copy it POSTed)."""
        return [e for e in self._log_lines("relay", "delivery") if e.get("job_id") in ids]

    # -- components -------------------------------------------------------------------------
    def start(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        """Start a component that was just stopped. After a SIGKILL with requests in flight
        the port stays unbindable for a moment although the process group is gone, and
        `Stack.start_component` refuses a busy port at once: wait for it (bounded)."""
        from devstack.stack import StackError, port_free

        host, port = self.stack.config.host, self.stack.config.ports.get(name)
        end = time.monotonic() + 20
        while port is not None and not port_free(host, port) and time.monotonic() < end:
            time.sleep(0.2)
        while True:
            try:
                self.stack.start_component(name, extra_env=extra_env)
                return
            except StackError as err:
                if "in use" not in str(err) or time.monotonic() > end:
                    raise
                time.sleep(0.5)

    def restart(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        self.stack.kill(name)
        self.start(name, extra_env)

    # -- upkeep -----------------------------------------------------------------------------
    def sweep(self) -> dict[str, Any]:
        """One run of the sweeper, in-process (the test process has the stack's env)."""
        from imagegen.bootstrap import Services
        from imagegen.config import load_settings
        from imagegen.services.upkeep import sweep

        return sweep(Services(load_settings()))

    def sweep_until_terminal(
        self, ids: list[str], timeout: float, every: float = 2.0
    ) -> dict[str, int]:
        """Run the sweep every `every` s until every job is terminal (bounded)."""
        end = time.monotonic() + timeout
        totals = {"sweeps": 0, "republished": 0, "waiting": 0}
        while time.monotonic() < end:
            states = [(self.job(i) or {}).get("state") for i in ids]
            if all(s in TERMINAL for s in states):
                break
            counts = self.sweep()
            totals["sweeps"] += 1
            totals["republished"] += counts["republished"]
            totals["waiting"] += counts["waiting"]
            time.sleep(every)
        return totals

    # -- figures ----------------------------------------------------------------------------
    @staticmethod
    def duplicates(outcome: Outcome, expected: dict[str, set[str]]) -> int:
        """Objects beyond each job's expected set (a second set of outputs would show here)."""
        return sum(len(set(outcome.objects[i]) - expected[i]) for i in expected)

    @staticmethod
    def record(
        scenario: str,
        jobs: int,
        faults: str,
        outcome: Outcome,
        duplicates: int,
        calls: int,
        seconds: float,
    ) -> None:
        FIGURES.append(
            {
                "scenario": scenario,
                "jobs": jobs,
                "faults": faults,
                "lost": len(outcome.lost),
                "stuck": len(outcome.stuck),
                "duplicates": duplicates,
                "calls": calls,
                "seconds": round(seconds, 1),
            }
        )

    def check(self, outcome: Outcome, expected: dict[str, set[str]]) -> None:
        """The invariants every scenario shares: nothing lost or stuck, and exactly the
        expected objects under jobs/<id>/ (no more, no fewer), matching the job's outputs."""
        assert not outcome.lost, f"lost jobs (submitted, now unknown): {outcome.lost}"
        assert not outcome.stuck, "stuck jobs: " + "; ".join(
            f"{i}: {outcome.jobs[i]['state']} {outcome.jobs[i].get('error')}" for i in outcome.stuck
        )
        for job_id, names in expected.items():
            got = outcome.objects[job_id]
            assert set(got) == names and len(got) == len(names), (
                f"job {job_id} ({outcome.jobs[job_id]['state']}): objects {got}, "
                f"expected {sorted(names)}"
            )
            uris = sorted(o["uri"] for o in outcome.jobs[job_id].get("outputs") or [])
            assert uris == sorted(f"gs://{self.bucket}/{n}" for n in names), (
                f"job {job_id}: outputs {uris} do not match the bucket {got}"
            )


@pytest.fixture
def faults(stack, stack_env, http, api_url, vertex_url) -> Faults:
    return Faults(stack, stack_env, http, api_url, vertex_url)


def pngs(job_id: str, count: int) -> set[str]:
    return {f"jobs/{job_id}/{n}.png" for n in range(count)}


@pytest.fixture
def expected_pngs():
    return pngs
