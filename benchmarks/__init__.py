"""Benchmarks (`make bench`): search at scale over HTTP and in SQL, and matching. See benchmarks/run.py."""
