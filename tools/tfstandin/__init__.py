"""Offline `terraform validate`: a schema-only stand-in for the configuration's providers.

See tools/tfstandin/README.md.
"""
