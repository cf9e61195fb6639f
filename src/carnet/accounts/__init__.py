"""Accounts: departments (pôles), users, roles, sessions and API tokens."""
