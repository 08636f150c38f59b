"""Settings (imagegen/config.py): every variable Terraform sets is read, each value is read
the way the deployment writes it, and a bad one stops the start naming its variable."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from imagegen.config import ConfigError, Settings, env_name, load_settings

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = {"GOOGLE_CLOUD_PROJECT", "LOG_LEVEL"}


@pytest.fixture
def env(monkeypatch):
    """A clean environment of settings: only what the test sets."""
    for name in list(os.environ):
        if name.startswith("IMAGEGEN_") or name in {*PLATFORM, "GCLOUD_PROJECT", "K_SERVICE"}:
            monkeypatch.delenv(name)

    def setenv(**values: str) -> Settings:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return load_settings()

    return setenv


def test_every_variable_terraform_sets_is_a_setting():
    """Names match Terraform's: a variable the deployment sets that no field reads would be
    silently ignored."""
    text = "\n".join(p.read_text() for p in sorted((ROOT / "terraform").glob("*.tf")))
    set_by_terraform = set(re.findall(r"\b(IMAGEGEN_[A-Z0-9_]+)\b", text))
    read = {env_name(name) for name in Settings.model_fields}
    assert len(set_by_terraform) > 20  # the scan found the function environments
    assert set_by_terraform - read == set()
    assert read >= PLATFORM


def test_defaults_without_any_variable(env):
    s = env()
    assert (s.tasks_queue, s.events_topic, s.retired_models) == (
        "imagegen-jobs",
        "job-events",
        "route",
    )
    assert (s.lease_seconds, s.max_attempts, s.counter_shards) == (600.0, 5, 1)
    assert (s.trust_caller_header, s.allowed_locations, s.trace_exporter) == (False, [], "none")
    assert (s.log_level, s.service_name, s.project) == ("INFO", "imagegen", "")


def test_values_are_read_as_terraform_and_the_devstack_write_them(env):
    s = env(
        IMAGEGEN_ADMIN_MEMBERS="user:a@example.com, serviceAccount:b@example.com,,",
        IMAGEGEN_ALLOWED_LOCATIONS=" global ,us-central1",
        IMAGEGEN_MAX_ATTEMPTS="3.0",
        IMAGEGEN_COUNTER_SHARDS="0",  # at least one shard
        IMAGEGEN_TRUST_CALLER_HEADER=" 1 ",
        IMAGEGEN_STUDIO_ID_TOKENS="true",  # only "1" turns a flag on
        IMAGEGEN_LEASE_SECONDS="",  # empty number: the default
        IMAGEGEN_STUDIO_IAP_CERTS_URL=" ",  # empty: Google's IAP keys
        IMAGEGEN_EVENTS_TOPIC="",  # empty: no job events (kept empty)
        IMAGEGEN_RETIRED_MODELS=" refuse ",
        GCLOUD_PROJECT="p-1",
        LOG_LEVEL="debug",
        K_SERVICE="imagegen-submit",
    )
    assert s.admin_members == ["a@example.com", "b@example.com"]
    assert s.allowed_locations == ["global", "us-central1"]
    assert (s.max_attempts, s.counter_shards, s.lease_seconds) == (3, 1, 600.0)
    assert (s.trust_caller_header, s.studio_id_tokens) == (True, False)
    assert s.studio_iap_certs_url == "https://www.gstatic.com/iap/verify/public_key"
    assert (s.events_topic, s.retired_models, s.project) == ("", "refuse", "p-1")
    assert (s.log_level, s.service_name) == ("DEBUG", "imagegen-submit")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("IMAGEGEN_LEASE_SECONDS", "ten", "IMAGEGEN_LEASE_SECONDS must be a number, got 'ten'"),
        ("IMAGEGEN_MAX_ATTEMPTS", "x", "IMAGEGEN_MAX_ATTEMPTS must be a number, got 'x'"),
        ("IMAGEGEN_RETIRED_MODELS", "drop", "IMAGEGEN_RETIRED_MODELS must be refuse or route"),
        ("IMAGEGEN_CATALOG_TTL_SECONDS", "61", "IMAGEGEN_CATALOG_TTL_SECONDS must be 0..60"),
        ("IMAGEGEN_TRACE_EXPORTER", "zipkin", "IMAGEGEN_TRACE_EXPORTER must be gcp, console"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL must be one of"),
    ],
)
def test_a_bad_value_fails_naming_its_variable(env, name, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        env(**{name: value})


def test_a_missing_required_setting_names_its_variable(env):
    settings = env()
    with pytest.raises(ConfigError, match="set the environment variable GOOGLE_CLOUD_PROJECT"):
        settings.require("project")
    with pytest.raises(ConfigError, match="IMAGEGEN_OUTPUTS_BUCKET"):
        settings.require("outputs_bucket")


def test_settings_are_frozen(env):
    with pytest.raises(ValueError, match="frozen"):
        env().tasks_queue = "other"  # type: ignore[misc]
