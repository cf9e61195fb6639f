"""Workflow engine: triggers, conditions and actions, as data."""
