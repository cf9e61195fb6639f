"""Demo data: deterministic generators of realistic French B2B CRM data."""
