"""Benchmarks and experiments behind `make bench*`."""
