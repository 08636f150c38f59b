"""`tools.tfstandin replan` is not a rubber stamp: on a two-resource configuration it
reports a moved-only change as pure, and a renamed resource without a `moved` block or a
changed argument as changes (with the attribute that differs)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .conftest import REPO_ROOT
from .test_terraform_validate import _standin_python

VERSIONS = """\
terraform {
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.14.0, < 7.0.0"
    }
  }
}

provider "google" {
  project = "replan-test"
}
"""

TOPIC = """\
resource "google_pubsub_topic" "%s" {
  name                       = "jobs"
  message_retention_duration = "%s"
}

resource "google_pubsub_subscription" "hold" {
  name  = "hold"
  topic = google_pubsub_topic.%s.id
}
"""


def _config(path: Path, name: str, retention: str = "600s", extra: str = "") -> Path:
    path.mkdir()
    (path / "versions.tf").write_text(VERSIONS)
    (path / "main.tf").write_text(TOPIC % (name, retention, name) + extra)
    return path


def _replan(old: Path, new: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    proc = subprocess.run(
        [_standin_python(), "-m", "tools.tfstandin", "replan", str(old), str(new)],
        capture_output=True, text=True, cwd=REPO_ROOT, env=env, check=False,
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


def test_replan_tells_a_move_from_a_change(tmp_path: Path) -> None:
    old = _config(tmp_path / "old", "jobs")
    moved = "moved {\n  from = google_pubsub_topic.jobs\n  to   = google_pubsub_topic.queue\n}\n"

    rc, out = _replan(old, _config(tmp_path / "moved", "queue", extra=moved))
    assert rc == 0, out
    assert "replan: moved google_pubsub_topic.jobs -> google_pubsub_topic.queue" in out, out
    assert "2 resources planned, 1 moved, 0 changed; nothing would change" in out, out

    rc, out = _replan(old, _config(tmp_path / "renamed", "queue"))
    assert rc == 1, out
    assert "replan: CHANGE delete google_pubsub_topic.jobs" in out, out
    assert "replan: CHANGE create google_pubsub_topic.queue" in out, out

    rc, out = _replan(old, _config(tmp_path / "changed", "jobs", retention="900s"))
    assert rc == 1, out
    assert "replan: CHANGE update google_pubsub_topic.jobs" in out, out
    assert "message_retention_duration: '600s' -> '900s'" in out, out
