"""Helpers shared by tests and benchmarks: loopback ports (net) and private redis-servers."""
