"""The CLI's exit codes: scripts branch on them, so they are part of its interface
(docs/cli.md, `imagegen --help`)."""

from __future__ import annotations

from imagegen_client.client import ApiError

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_BLOCKED = 3
EXIT_UNAVAILABLE = 4
EXIT_TIMEOUT = 5
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\b
Exit codes:
  0  ok (and, when waiting, the job succeeded)
  1  the job ended failed or cancelled
  2  usage error, or the API refused the request (400-class: bad field,
     unknown job, 409 conflict, auth)
  3  the job was blocked by safety filters
  4  the API or the network is unavailable (5xx, connection refused)
  5  waiting timed out (the job id is printed; the job keeps running)
"""

STATE_EXIT = {
    "succeeded": EXIT_OK,
    "blocked": EXIT_BLOCKED,
    "failed": EXIT_JOB_FAILED,
    "cancelled": EXIT_JOB_FAILED,
}


def exit_code_for_state(state: str) -> int:
    return STATE_EXIT.get(state, EXIT_OK)


def exit_code_for_error(exc: ApiError) -> int:
    if exc.code == "auth":
        return EXIT_USAGE
    if exc.unavailable:
        return EXIT_UNAVAILABLE
    return EXIT_USAGE
