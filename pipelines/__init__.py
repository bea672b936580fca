"""Thin pipeline modules: options -> graph from composites -> run."""
