"""Turning samples into figures: percentiles, goals, the machine description, the JSON file and the
markdown tables appended to bench/RESULTS.md."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from scenarios import Goal, ImportResult, Sample, Skipped

RESULTS_HEADER = """# Benchmark results

Appended by `bench/run.py` (see bench/README.md): one section per run, newest last. Latencies are
measured by the client, over HTTP on 127.0.0.1, client and server on the same machine.
"""


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def figures(sample: Sample) -> dict[str, Any]:
    values = sorted(sample.latencies)
    if not values:
        return {"ops": 0, "requests": 0, "errors": sample.errors, "first_error": sample.first_error}
    elapsed = sample.elapsed or sum(values)
    return {
        "ops": len(values),
        "requests": sample.requests,
        "p50_ms": round(percentile(values, 0.50) * 1000, 2),
        "p95_ms": round(percentile(values, 0.95) * 1000, 2),
        "p99_ms": round(percentile(values, 0.99) * 1000, 2),
        "max_ms": round(values[-1] * 1000, 2),
        "ops_per_s": round(len(values) / elapsed, 1),
        "req_per_s": round(sample.requests / elapsed, 1),
        "errors": sample.errors,
        "first_error": sample.first_error,
    }


def goal_status(goal: Goal | None, row: dict[str, Any]) -> str:
    """met / missed / n/a. A run with errors cannot meet a latency goal: fast failures are not speed."""
    if goal is None or row.get("status") != "ok":
        return "n/a"
    value = row.get(goal.metric)
    if value is None:
        return "n/a"
    if goal.metric != "locked" and row.get("errors"):
        return "missed"
    return "met" if goal.met(float(value)) else "missed"


def measured_row(
    kind: str,
    name: str,
    persona: str,
    clients: int,
    description: str,
    goal: Goal | None,
    sample: Sample,
    locked_logged: int = 0,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": kind,
        "scenario": name,
        "user": persona,
        "clients": clients,
        "description": description,
        "status": "ok",
        **figures(sample),
    }
    # Responses that say so, plus server log records (a 500's body does not give the cause).
    row["locked_responses"] = sample.locked
    row["locked_logged"] = locked_logged
    row["locked"] = sample.locked + locked_logged
    row["goal"] = goal.describe() if goal else None
    row["vs_goal"] = goal_status(goal, row)
    return row


def skipped_row(
    kind: str, name: str, persona: str, description: str, goal: Goal | None, exc: Skipped
) -> dict[str, Any]:
    return {
        "kind": kind,
        "scenario": name,
        "user": persona,
        "clients": None,
        "description": description,
        "status": exc.status,
        "reason": exc.reason,
        "http_status": exc.http_status,
        "goal": goal.describe() if goal else None,
        "vs_goal": "n/a",
    }


def import_row(result: ImportResult) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": "import",
        "scenario": result.path,
        "rows": result.rows,
        "status": result.status,
        "seconds": round(result.seconds, 3) if result.seconds else None,
        "rows_per_s": round(result.rows_per_s, 1) if result.rows_per_s else None,
        "note": result.note,
        "goal": result.goal.describe(),
    }
    row["vs_goal"] = goal_status(result.goal, row)
    return row


# -- where and on what it ran --------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    memory_gib = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:  # not Linux: keep what platform knows
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
    }


def load_average() -> float | None:
    """1-minute load average: other work on the machine skews every figure, so it is recorded."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # not available on this platform
        return None


def git_commit(root: Path) -> str:
    """Short commit, with "+dirty" when tracked files (other than RESULTS.md) have changed."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/RESULTS.md"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if changes else "")


# -- outputs -------------------------------------------------------------------------------------


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def append_markdown(path: Path, markdown: str) -> None:
    existing = path.read_text() if path.exists() else RESULTS_HEADER
    path.write_text(existing.rstrip("\n") + "\n\n" + markdown.rstrip("\n") + "\n")


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}".replace(",", " ")
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _note(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return f"{row['status']}: {row.get('reason') or row.get('note') or ''}"
    notes = []
    if row.get("locked"):
        notes.append(
            f"`database is locked`: {row['locked_responses']} responses, {row['locked_logged']} server log records"
        )
    if row.get("first_error"):
        notes.append(f"first error: {row['first_error'][:200]}")
    if row.get("server_exception"):
        notes.append(f"server log: {row['server_exception'][:200]}")
    return "; ".join(notes) or row.get("note") or ""


def _ms(row: dict[str, Any], key: str) -> float | None:
    value = row.get(key)
    return float(value) if value is not None else None


def render(data: dict[str, Any]) -> str:
    meta, rows = data["meta"], data["results"]
    m = meta["machine"]
    server = (
        f"`carnet serve --workers {meta['server_workers']}` at {meta['base_url']}"
        if meta.get("server_workers")
        else f"{meta['base_url']} (external)"
    )
    parts = [
        f"## {meta['date']} · size {meta['size']} · {meta['database']} · commit {meta['commit']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, Python {m['python']}, "
        f"{m['os']}; database {meta.get('database_version') or 'unknown'}. "
        f"Load average (1 min) {meta.get('load_before')} before the run, {meta.get('load_after')} after. "
        f"Server: {server}. "
        f"Each scenario: {meta['warmup']:g} s warm-up then {meta['duration']:g} s measured, "
        f"with {', '.join(str(c) for c in meta['clients'])} concurrent client(s).",
    ]
    setup = data.get("setup") or {}
    if setup:
        steps = (
            [f"`carnet db upgrade` {setup['migrate_seconds']:.1f} s"] if "migrate_seconds" in setup else []
        )
        if "demo_load_seconds" in setup:
            steps.append(
                f"`carnet demo load --size {meta['size']}` {setup['demo_load_seconds']:.1f} s "
                f"({setup.get('demo_load_summary', '')})"
            )
        if "reused_data" in setup:
            steps.append(f"demo data already in the database (`--reuse`): {setup['reused_data']}")
        if steps:
            parts += ["", "Setup: " + "; ".join(steps) + "."]

    http = [r for r in rows if r["kind"] == "http"]
    parts += [
        "",
        "### API over HTTP",
        "",
        _table(
            [
                "scenario",
                "user",
                "clients",
                "ops",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "req/s",
                "errors",
                "goal",
                "vs goal",
                "note",
            ],
            [
                [
                    r["scenario"],
                    r["user"],
                    r["clients"],
                    r.get("ops"),
                    _ms(r, "p50_ms"),
                    _ms(r, "p95_ms"),
                    _ms(r, "p99_ms"),
                    r.get("req_per_s"),
                    r.get("errors"),
                    r["goal"],
                    r["vs_goal"],
                    _note(r),
                ]
                for r in http
            ],
        ),
    ]

    sql = [r for r in rows if r["kind"] == "sql"]
    if sql:
        api_at_one = {
            (r["scenario"], r["user"]): r for r in http if r["status"] == "ok" and r["clients"] == 1
        }
        comparison = []
        for r in sql:
            api = api_at_one.get((r["scenario"], r["user"]))
            overhead = None
            if r["status"] == "ok" and api is not None:
                overhead = round(api["p50_ms"] - r["p50_ms"], 2)
            comparison.append(
                [
                    r["scenario"],
                    r["user"],
                    _ms(r, "p50_ms"),
                    _ms(r, "p95_ms"),
                    _ms(api, "p50_ms") if api else None,
                    _ms(api, "p95_ms") if api else None,
                    overhead,
                    _note(r) if r["status"] != "ok" else ("" if api else "API scenario not measured"),
                ]
            )
        parts += [
            "",
            "### Direct SQL vs API (1 client)",
            "",
            _table(
                [
                    "query",
                    "user",
                    "SQL p50 ms",
                    "SQL p95 ms",
                    "API p50 ms",
                    "API p95 ms",
                    "API overhead p50 ms",
                    "note",
                ],
                comparison,
            ),
        ]

    writes = [r for r in rows if r["kind"] == "write"]
    if writes:
        parts += [
            "",
            "### Write concurrency",
            "",
            _table(
                [
                    "clients",
                    "ops",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "req/s",
                    "errors",
                    "`database is locked` (responses / server log records)",
                    "goal",
                    "vs goal",
                    "note",
                ],
                [
                    [
                        r["clients"],
                        r.get("ops"),
                        _ms(r, "p50_ms"),
                        _ms(r, "p95_ms"),
                        _ms(r, "p99_ms"),
                        r.get("req_per_s"),
                        r.get("errors"),
                        f"{r['locked_responses']} / {r['locked_logged']}" if r["status"] == "ok" else None,
                        r["goal"],
                        r["vs_goal"],
                        _note(r) or r["description"],
                    ]
                    for r in writes
                ],
            ),
        ]

    imports = [r for r in rows if r["kind"] == "import"]
    if imports:
        parts += [
            "",
            "### Import",
            "",
            _table(
                ["path", "rows", "seconds", "rows/s", "goal", "vs goal", "note"],
                [
                    [
                        r["scenario"],
                        r["rows"],
                        r["seconds"],
                        r["rows_per_s"],
                        r["goal"],
                        r["vs_goal"],
                        _note(r),
                    ]
                    for r in imports
                ],
            ),
        ]
    return "\n".join(parts) + "\n"
