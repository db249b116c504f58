"""Drivers for the real components tests and benchmarks run against."""
