"""Waiting for a job on behalf of a synchronous caller (the front doors answer when the job
ends, as Vertex and OpenAI do): the job store is read with a growing pause, 0.2 s to 1 s,
until the job is terminal or the wait's deadline passes. A 20 s job costs about 25 reads.
The job goes on whatever happens here: the deadline only ends the wait."""

from __future__ import annotations

import time

from imagegen.bootstrap import Services
from imagegen.domain.job import Job

FIRST_PAUSE = 0.2
LONGEST_PAUSE = 1.0


class StillRunning(Exception):
    """The wait ended before the job did; the job continues (read it by its id)."""

    def __init__(self, job: Job, waited: float) -> None:
        super().__init__(f"job {job.id} is still {job.state} after {waited:.0f} s")
        self.job = job
        self.waited = waited


def wait(services: Services, job: Job, seconds: float) -> Job:
    """The job once terminal; StillRunning after `seconds`."""
    started = time.monotonic()
    pause = FIRST_PAUSE
    current = job
    while not current.terminal:
        left = seconds - (time.monotonic() - started)
        if left <= 0:
            raise StillRunning(current, time.monotonic() - started)
        time.sleep(min(pause, left))
        pause = min(LONGEST_PAUSE, pause * 1.5)
        current = services.jobs.get(job.id) or current
    return current
