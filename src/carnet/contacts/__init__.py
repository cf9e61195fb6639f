"""Contacts: people, linked to one or more organisations with a role."""
