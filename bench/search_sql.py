"""Time the SQL of the global search per term, as the API runs it (`carnet.core.search.search`).

    PYTHONPATH=$PWD/src python bench/search_sql.py --database-url URL [--repeat 5] [--explain TERM]

The terms are the bench's (`scenarios.discover`: first words of the first organisations by name,
cut to five letters, their cities, the last names of the first contacts by last name), read here
with SQL instead of the API. For the admin and the sales user, every term is searched `--repeat`
times; the figure is the time the statements of one search spent in the database driver (send,
run, fetch), summed, so Python's own work is left out; beside it, this process's CPU time per
search (building the statement, binding, reading rows). `--explain TERM` prints the plan of each
statement of that search (EXPLAIN ANALYZE, BUFFERS) and `--server` the server's execution time and
buffers per search, PostgreSQL only. Reads only.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import percentile

from carnet.accounts.models import User
from carnet.accounts.service import actor_for
from carnet.app import create_app
from carnet.core import search
from carnet.core.db import Database
from carnet.core.text import search_tokens


def bench_terms(db: Any) -> list[str]:
    """The terms `scenarios.discover` finds, read with SQL (the admin sees every record)."""
    rng = random.Random(7)
    orgs = db.execute(
        text("SELECT name, city FROM organisations ORDER BY name NULLS LAST, id LIMIT 200")
    ).all()
    people = db.scalars(
        text("SELECT last_name FROM contacts ORDER BY last_name NULLS LAST, id LIMIT 200")
    ).all()
    words: list[str] = []
    for name, city in orgs:
        first = next((w for w in search_tokens(name or "") if len(w) >= 4), None)
        if first:
            words.append(first[:5])
        if city:
            words.append(city)
    words.extend(p for p in people if p)
    terms = sorted(set(words))
    rng.shuffle(terms)
    return terms[:40]


class StatementTimer:
    """Sums the driver time of the statements run on `engine` between resets."""

    def __init__(self, engine: Any) -> None:
        self.total = 0.0
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: Any
    ) -> None:
        conn.info["search_sql_started"] = time.perf_counter()

    def _after(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: Any
    ) -> None:
        self.total += time.perf_counter() - conn.info.pop("search_sql_started")
        self.statements.append((statement, parameters))

    def reset(self) -> None:
        self.total, self.statements = 0.0, []


def server_figures(db: Any, statements: list[tuple[str, Any]]) -> tuple[float, float]:
    """Execution time (ms) and shared buffers (hit + read) of `statements`, summed."""
    ms = pages = 0.0
    for statement, parameters in statements:
        plan = (
            db.connection()
            .exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters)
            .scalar()[0]
        )
        ms += plan["Execution Time"]
        pages += plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"]
    return ms, pages


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", default="")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument(
        "--server",
        action="store_true",
        help="also the server's own figures for the last run of each term: execution time and "
        "buffers read (EXPLAIN ANALYZE), which move less with the machine's load",
    )
    args = parser.parse_args()
    create_app()  # imports every domain: their record types and lookups register
    database = Database(args.database_url)
    with database.session(write=False) as db:
        terms = [args.explain] if args.explain else bench_terms(db)
        actors = {
            email.split("@")[0]: actor_for(db.scalar(select(User).where(User.email == email)))
            for email in ("admin@carnet.demo", "sales@carnet.demo")
        }
        db.rollback()
    timer = StatementTimer(database.read_engine)
    print(f"{len(terms)} terms: {', '.join(terms)}")
    for persona, actor in actors.items():
        times: list[float] = []
        cpu = 0.0
        per_term: list[tuple[float, str, int]] = []
        executed: list[float] = []
        buffers: list[float] = []
        for term in terms:
            own = []
            for _ in range(args.repeat):
                with database.session(write=False) as db:
                    timer.reset()
                    started = time.process_time()
                    hits = search.search(db, actor, term, args.limit)
                    cpu += time.process_time() - started
                    own.append(timer.total * 1000)
                    statements = list(timer.statements)
                    if args.explain:
                        for statement, parameters in statements:
                            plan = db.connection().exec_driver_sql(
                                "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                            )
                            print(f"-- {persona}: {statement}\n" + "\n".join(r[0] for r in plan))
                        break
                    db.rollback()
            if args.server:
                with database.session(write=False) as db:
                    ms, pages = server_figures(db, statements)
                    executed.append(ms)
                    buffers.append(pages)
                    db.rollback()
            times.extend(own)
            per_term.append((statistics.median(own), term, len(hits)))
        times.sort()
        print(
            f"{persona}: SQL per search p50 {percentile(times, 0.5):.2f} ms, p95 {percentile(times, 0.95):.2f} ms, "
            f"max {times[-1]:.2f} ms ({len(times)} searches, {len(statements)} statements each); "
            f"this process's CPU {cpu * 1000 / len(times):.2f} ms per search"
        )
        if executed:
            executed.sort()
            buffers.sort()
            print(
                f"  server: execution p50 {percentile(executed, 0.5):.2f} ms, p95 {percentile(executed, 0.95):.2f} ms, "
                f"max {executed[-1]:.2f} ms; buffers p50 {percentile(buffers, 0.5):.0f}, "
                f"p95 {percentile(buffers, 0.95):.0f}, max {buffers[-1]:.0f} (one run per term)"
            )
        for ms, term, n in sorted(per_term, reverse=True)[:8]:
            print(f"    {ms:7.2f} ms  {term!r} ({n} hits)")


if __name__ == "__main__":
    main()
