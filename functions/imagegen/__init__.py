"""imagegen: event-driven image generation on Google Cloud with Vertex AI.

The deployable package. Entry points live in `functions/main.py`; this package holds the
logic, split into `domain` (pure rules, no SDK imports), `adapters` (one per Google Cloud
service, each creating its client lazily once) and `service` (the use cases).
"""

__version__ = "0.1.0"
