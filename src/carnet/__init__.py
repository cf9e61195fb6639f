"""Carnet: the self-hosted CRM for French small and medium businesses."""

__version__ = "0.1.0"
