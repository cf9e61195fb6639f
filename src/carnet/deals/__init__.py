"""Deals and the pipelines they move through."""
