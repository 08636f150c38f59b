"""Benchmarks of imagegen: cold start, submit, worker overhead, memory (`python -m bench`)."""
