"""How the catalog and the usage look to people: the tables of `imagegen models` (the
lineup, the retired names, the lifecycle facts with their sources), of `imagegen catalog`
and of `imagegen usage`."""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape
from rich.table import Table


def _prices(model: dict[str, Any]) -> str:
    """Price per image by size, sizes with one price grouped: "1K/2K $0.134, 4K $0.240"."""
    prices = model.get("price_usd_per_image") or {}
    if not prices:
        return ""
    if len(set(prices.values())) == 1:
        return f"${next(iter(prices.values())):.3f}"
    groups: dict[float, list[str]] = {}
    for size, price in prices.items():
        groups.setdefault(price, []).append(size)
    return ", ".join(f"{'/'.join(sizes)} ${price:.3f}" for price, sizes in groups.items())


def _locations(locations: list[str], shown: int = 4) -> str:
    if len(locations) <= shown + 1:
        return ", ".join(locations)
    return ", ".join(locations[:shown]) + f" +{len(locations) - shown} more"


def lineup_table(every: list[dict[str, Any]], default: str | None) -> Table:
    """The models a request can be served by (a retired name that still has locations too)."""
    table = Table(title="imagegen models", show_lines=False)
    for column in (
        "id",
        "lifecycle",
        "locations",
        "sizes",
        "thinking",
        "search",
        "max refs",
        "price / image",
    ):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "price / image"))
    for model in (m for m in every if not m.get("retired") or m.get("locations")):
        lifecycle = str(model.get("lifecycle", ""))
        if model.get("retired"):
            lifecycle = "retired"
        elif model.get("release_date"):
            since = "released" if lifecycle == "deprecated" else "since"
            lifecycle += f" {since} {model['release_date']}"
        if model.get("preview_sizes"):
            lifecycle += f" ({'/'.join(model['preview_sizes'])} preview)"
        notice = model.get("deprecation") or {}
        if notice:  # Vertex AI's retirement date of a model it still serves
            lifecycle += f"; retires {notice['retirement_date']}"
            if notice.get("replacement"):
                lifecycle += f", use {notice['replacement']}"
        elif model.get("retirement_not_before"):
            lifecycle += f"; retires {model['retirement_not_before']} or later"
        sizes = model.get("image_sizes") or {}
        model_id = str(model.get("id"))
        table.add_row(
            escape(model_id + (" *" if model_id == default else "")),
            escape(lifecycle),
            escape(_locations(model.get("locations") or [])),
            escape(" ".join(sizes)),
            escape("/".join(model.get("thinking_levels") or []) or "-"),
            "yes" if model.get("google_search") else "-",
            str(model.get("max_reference_images", "")),
            escape(_prices(model)),
        )
    return table


def retired_table(retired: list[dict[str, Any]]) -> Table:
    """Retired names and what serves them now (or what to use instead, when refused)."""
    routing = retired[0].get("routing", "route")
    verb = "served by" if routing == "route" else "refused; use"
    routed = Table(title=f"retired names ({routing})", show_lines=False)
    for column in ("id", "shut down", verb):
        routed.add_column(column, overflow="fold", no_wrap=column == "id")
    for model in retired:
        target = str(model.get("replacement") or "")
        if not target:  # not an image generator: nothing serves it
            target = f"- (was {model.get('purpose', 'not an image generator')})"
        if model.get("thinking_level"):
            target += f" (thinking {str(model['thinking_level']).upper()})"
        routed.add_row(
            escape(str(model.get("id"))),
            escape(str(model.get("shutdown_date", ""))),
            escape(target),
        )
    return routed


def lifecycle_table(models: list[dict[str, Any]]) -> Table | None:
    """Stage, shutdown date, replacement, and where each fact came from (code, overlay,
    Model Garden check, Vertex 404); None when no model carries lifecycle facts."""
    rows = [(m, m.get("lifecycle_facts")) for m in models if m.get("lifecycle_facts")]
    if not rows:
        return None
    table = Table(title="lifecycle (source in brackets)", show_lines=False)
    for column in ("id", "stage", "launch stage", "shutdown", "replacement"):
        table.add_column(column, overflow="fold", no_wrap=column == "id")
    for model, facts in rows:
        table.add_row(
            escape(str(model.get("id"))),
            escape(f"{facts.get('lifecycle')} [{facts.get('lifecycle_source')}]"),
            escape(
                f"{facts['launch_stage']} [{facts.get('launch_stage_source')}]"
                if facts.get("launch_stage")
                else "- [not checked yet]"
            ),
            escape(f"{facts.get('shutdown_date') or '-'} [{facts.get('shutdown_source')}]"),
            escape(f"{facts.get('replacement') or '-'} [{facts.get('replacement_source')}]"),
        )
    return table


def usage_table(body: dict[str, Any], caller: str | None) -> Table:
    """Jobs, images and dollars: the total, then per caller, then per model."""
    period = body.get("month") or body.get("day")
    table = Table(title=f"imagegen usage {period}" + (f" for {caller}" if caller else ""))
    for column in ("", "jobs", "images requested", "images produced", "estimated $", "cost $"):
        table.add_column(column, justify="left" if not column else "right")
    rows = [("total", body.get("total") or {})]
    rows += [(f"caller {k}", v) for k, v in sorted((body.get("by_caller") or {}).items())]
    rows += [(f"model {k}", v) for k, v in sorted((body.get("by_model") or {}).items())]
    for name, row in rows:
        table.add_row(
            escape(name),
            str(row.get("jobs", 0)),
            str(row.get("images_requested", 0)),
            str(row.get("images_produced", 0)),
            f"{row.get('estimated_usd', 0.0):.4f}",
            f"{row.get('cost_usd', 0.0):.4f}",
        )
    return table


def overlay_changes_table(history: list[dict[str, Any]]) -> Table:
    """`imagegen catalog show`: who changed the catalog overlay, when, and what."""
    table = Table(title="changes")
    for column in ("version", "when", "who", "what"):
        table.add_column(column, overflow="fold")
    for entry in history:
        table.add_row(
            str(entry.get("version")),
            escape(str(entry.get("when"))),
            escape(str(entry.get("who"))),
            escape(str(entry.get("what"))),
        )
    return table


def change_line(change: dict[str, Any]) -> str:
    """One line of `imagegen catalog diff` (plain text: the caller escapes it)."""
    if change.get("change") == "available":  # found in Model Garden, not in the catalog
        return (
            f"{change.get('model')}: available on Vertex AI ({change.get('launch_stage')}, "
            f"first seen {change.get('first_seen')}); adopt: {change.get('adopt')}"
        )
    if "before" in change:
        return (
            f"{change.get('model', '')} {change.get('field')}: "
            f"{json.dumps(change['before'])} -> {json.dumps(change['after'])}"
        )
    return json.dumps(change)
