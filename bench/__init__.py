"""Benchmarks. Run them as modules, e.g. ``python -m bench.lookup``; results go to bench/results/."""
