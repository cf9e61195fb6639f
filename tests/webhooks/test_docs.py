"""The event table of documentation/integrations.md is the catalogue, every type listed."""

from __future__ import annotations

from pathlib import Path

from carnet.webhooks import catalogue


def test_the_documented_event_table_matches_the_catalogue() -> None:
    doc = (Path(__file__).resolve().parents[2] / "documentation" / "integrations.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| `") and "." in line.split("`")[1]]
    documented = [line.split("`")[1] for line in rows if " | " in line and line.count("|") == 3]
    assert documented == catalogue.names()
