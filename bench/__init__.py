"""Benchmarks that print numbers: ``python -m bench`` runs them all, ``python -m bench NAME`` one.

Targets are checked here, by people reading the numbers, never by timed unit tests: these
machines are shared and noisy, so quote ratios measured in one run.
"""
