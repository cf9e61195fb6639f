"""Organisations: companies, groups and their establishments."""
