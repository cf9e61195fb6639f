"""`carnet import` and `carnet export`: synchronous, counts printed, exit codes."""

from __future__ import annotations

import csv
import io
import json

from click.testing import CliRunner
from import_helpers import csv_bytes

from carnet.cli import main

ROWS = [
    ["Nom de l'entreprise", "SIREN", "Ville"],
    ["Société Générale", "552120222", "Lyon"],
    ["Mauvais SIREN", "732829321", "Lyon"],
    ["Boulangerie Martin", "", "Paris"],
]


def test_import_then_export(api, tmp_path):
    source = tmp_path / "societes.csv"
    source.write_bytes(csv_bytes(ROWS))
    runner = CliRunner()
    result = runner.invoke(
        main, ["import", "--type", "organisations", str(source), "--email", "alice@example.fr"]
    )
    assert result.exit_code == 0, result.output
    assert "done: 3 rows, created 2, updated 0, skipped 0, failed 1" in result.stdout
    assert "line 3: SIREN: This SIREN is not valid" in result.stderr
    assert sorted(o["name"] for o in api("alice").get("/api/v1/organisations").json()["items"]) == [
        "Boulangerie Martin",
        "Société Générale",
    ]

    again = runner.invoke(
        main,
        [
            "import",
            "--type",
            "organisations",
            str(source),
            "--email",
            "alice@example.fr",
            "--duplicates",
            "update",
        ],
    )
    assert "created 1, updated 0, skipped 1, failed 1" in again.stdout  # Boulangerie has no SIREN

    out = tmp_path / "export.csv"
    result = runner.invoke(
        main,
        [
            "export",
            "--type",
            "organisations",
            "--email",
            "manager@example.fr",
            "--output",
            str(out),
            "city=Lyon",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "exported 1 organisations" in result.stderr
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig")), delimiter=";"))
    assert [r[1] for r in rows] == ["name", "Société Générale"]


def test_mapping_file(api, tmp_path):
    source = tmp_path / "x.csv"
    source.write_bytes(csv_bytes([["A", "B"], ["Atelier", "Nantes"]]))
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"A": "name", "B": "city"}))
    result = CliRunner().invoke(
        main,
        [
            "import",
            "--type",
            "organisations",
            str(source),
            "--mapping",
            str(mapping),
            "--email",
            "alice@example.fr",
        ],
    )
    assert result.exit_code == 0, result.output
    assert [(o["name"], o["city"]) for o in api("alice").get("/api/v1/organisations").json()["items"]] == [
        ("Atelier", "Nantes")
    ]


def test_unreadable_or_unmappable_file_exits_1(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(
        main, ["import", "--type", "organisations", str(tmp_path / "nope.csv"), "--email", "alice@example.fr"]
    )
    assert missing.exit_code == 1 and "cannot read" in missing.stderr
    binary = tmp_path / "binaire.csv"
    binary.write_bytes(b"\x00\x01\x02")
    result = runner.invoke(
        main, ["import", "--type", "organisations", str(binary), "--email", "alice@example.fr"]
    )
    assert result.exit_code == 1 and "file: This file is not a text CSV file" in result.stderr
    unmapped = tmp_path / "inconnu.csv"
    unmapped.write_bytes(csv_bytes([["Foo"], ["bar"]]))
    result = runner.invoke(
        main, ["import", "--type", "organisations", str(unmapped), "--email", "alice@example.fr"]
    )
    assert result.exit_code == 1 and "mapping: Choose the column holding Name" in result.stderr


def test_export_permission_and_bad_arguments(tmp_path):
    runner = CliRunner()
    denied = runner.invoke(main, ["export", "--type", "organisations", "--email", "alice@example.fr"])
    assert denied.exit_code == 1 and "permission" in denied.stderr
    bad = runner.invoke(
        main, ["export", "--type", "organisations", "--email", "manager@example.fr", "cityLyon"]
    )
    assert bad.exit_code == 1
    unknown = runner.invoke(main, ["export", "--type", "widgets", "--email", "manager@example.fr"])
    assert unknown.exit_code == 1
    nobody = runner.invoke(main, ["export", "--type", "organisations", "--email", "nobody@example.fr"])
    assert nobody.exit_code == 1


def test_import_in_a_fresh_process(tmp_path):
    """`carnet import` as a user runs it: a new process, where nothing but the CLI is loaded
    (the import's job function must be registered by the command itself)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    carnet = str(Path(sys.executable).parent / "carnet")
    env = {
        **os.environ,
        "CARNET_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
        "CARNET_STORAGE_DIR": str(tmp_path / "files"),
    }
    env.pop("CARNET_REDIS_URL", None)
    env.pop("CARNET_RUNNER", None)
    subprocess.run([carnet, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [
            carnet,
            "user",
            "create",
            "--email",
            "cli@example.fr",
            "--password",
            "Motdepasse-long-1",
            "--role",
            "admin",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    source = tmp_path / "societes.csv"
    source.write_bytes(csv_bytes(ROWS))
    done = subprocess.run(
        [carnet, "import", "--type", "organisations", str(source), "--email", "cli@example.fr"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "done: 3 rows, created 2, updated 0, skipped 0, failed 1" in done.stdout
