from __future__ import annotations

import pytest
import requests

from imagegen.bootstrap import Services
from imagegen.config import load_settings


@pytest.fixture(scope="session")
def make_services(stack):
    """Services wired to the emulators, with any setting overridden for one test."""

    def make(**overrides) -> Services:
        return Services(load_settings().model_copy(update=overrides))

    return make


@pytest.fixture(scope="session")
def idle_queue(stack, stack_env) -> str:
    """A paused Cloud Tasks queue of the stand-in: jobs queued there stay queued (for cancel
    and sweep tests)."""
    from devstack import emulators

    emulators.setup_tasks(
        endpoint=stack_env["IMAGEGEN_TASKS_ENDPOINT"],
        project=stack_env["GOOGLE_CLOUD_PROJECT"],
        location=stack_env["IMAGEGEN_TASKS_LOCATION"],
        queues={"idle-jobs": 1.0},
        target=stack_env["IMAGEGEN_TASKS_TARGET_URL"],
        concurrency=1,
        min_backoff=1.0,
        max_backoff=10.0,
        paused=True,
    )
    return "idle-jobs"


class TasksStandin:
    """The Cloud Tasks stand-in of the session stack, as tests look into it."""

    def __init__(self, stack_env) -> None:
        self.env = stack_env
        self.url = stack_env["IMAGEGEN_TASKS_ENDPOINT"]

    def queue(self, queue: str) -> str:
        env = self.env
        return (
            f"projects/{env['GOOGLE_CLOUD_PROJECT']}/locations/"
            f"{env['IMAGEGEN_TASKS_LOCATION']}/queues/{queue}"
        )

    def names(self, queue: str) -> list[str]:
        """The names of the tasks waiting in `queue` (ListTasks)."""
        got = requests.get(f"{self.url}/v2/{self.queue(queue)}/tasks", timeout=10).json()
        return [t["name"] for t in got.get("tasks", [])]

    def get(self, name: str) -> dict:
        return requests.get(f"{self.url}/v2/{name}", timeout=10).json()

    def delete(self, name: str) -> None:
        """Lose a task (DeleteTask), as a deleted queue or a lost task would."""
        requests.delete(f"{self.url}/v2/{name}", timeout=10).raise_for_status()


@pytest.fixture(scope="session")
def tasks(stack, stack_env) -> TasksStandin:
    return TasksStandin(stack_env)
