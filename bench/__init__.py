"""Benchmarks: each prints a table and writes JSON under bench/results/. Never run by tests."""
