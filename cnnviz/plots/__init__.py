"""Figures with matplotlib, one module per family; compute lives elsewhere."""
