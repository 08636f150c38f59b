"""The `imagegen` commands, one module per subject; `app` adds every one of `ALL`."""

from imagegen_client.cli.commands import batch, catalog, jobs, models, sheet, usage

ALL = (*jobs.COMMANDS, models.models, usage.usage, sheet.sheet, catalog.catalog, batch.batch)
