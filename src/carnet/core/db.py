"""Database engine, sessions, declarative base and portable column types.

SQLite and PostgreSQL are both first-class. On SQLite we run in WAL mode with a busy timeout and
open write transactions with BEGIN IMMEDIATE, so concurrent writers queue instead of failing with
"database is locked" when a reader tries to upgrade its lock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    insert,
    literal,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column, sessionmaker
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator

from carnet.core import clock
from carnet.core.text import fold

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes stored as UTC on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
Money = Numeric(14, 2)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), Decimal: Money, dict[str, Any]: JSONType}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class IdMixin:
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class TimestampMixin:
    """Created/updated timestamps and authors."""

    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now, index=True)

    # Plain ids, not foreign keys: authors stay readable in the audit trail even after a user is
    # removed, and departments/roles/users would otherwise reference each other in a cycle.
    created_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class OwnedMixin:
    """An owner and a department: what the visibility filter keys on."""

    @declared_attr
    def owner_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True, nullable=True)

    @declared_attr
    def department_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("departments.id", ondelete="SET NULL"), index=True, nullable=True)


class VersionedMixin:
    """An integer version bumped on every update: the ETag, and optimistic locking."""

    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.version}


class CustomFieldsMixin:
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)


class RecordMixin(IdMixin, TimestampMixin, OwnedMixin, VersionedMixin, CustomFieldsMixin):
    """Everything a business record carries."""


def in_ids(db: Session, column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """`column IN (ids)` for the ids of rows already read (tags, links... of a page of records).
    On PostgreSQL it is one array parameter, `column = ANY(%s)`: the statement's text stays the
    same whatever the number of ids, so SQLAlchemy and psycopg do not render and parse a long
    IN list again on every request. SQLite has no arrays and no such cost: a plain IN."""
    values = list(ids)
    if db.get_bind().dialect.name == "postgresql":
        return column == any_(literal(values, ARRAY(Integer)))
    return column.in_(values)


def ids_param(dialect: str, column: Any, name: str = "ids", item_type: Any = Integer) -> ColumnElement[bool]:
    """`column IN :name` in a `Prepared` statement, the ids (or other values of `item_type`) bound
    at execution: one array parameter on PostgreSQL (`= ANY`, as `in_ids`), an expanding IN on
    SQLite."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(item_type)))
    return column.in_(bindparam(name, expanding=True))


class Prepared:
    """A statement built once per dialect, then executed with bound parameters only.

    Building a SELECT and computing its cache key costs SQLAlchemy 0.1 to 0.5 ms of Python every
    time, often more than running it; a statement object kept whole keeps its cache key, so it is
    compiled once and each execution only binds values. For the statements that every request
    runs (token, tags and links of the records read). `build(dialect)` returns the statement."""

    def __init__(self, build: Callable[[str], Executable]) -> None:
        self._build = build
        self._built: dict[str, Executable] = {}

    def __call__(self, db: Session) -> Executable:
        dialect = db.get_bind().dialect.name
        statement = self._built.get(dialect)
        if statement is None:
            statement = self._built[dialect] = self._build(dialect)
        return statement


# Fewer rows than this go in an INSERT even on PostgreSQL: a COPY takes one more round trip, which
# a single audit entry or a handful of rows would pay for nothing.
COPY_FROM_ROWS = 100


def insert_rows(
    db: Session, table: Table, rows: list[dict[str, Any]], statement: Executable | None = None
) -> None:
    """INSERT many rows of `table` in the session's transaction; every row has the same keys
    (column names). Columns left out take their Python default, as with `insert(table)`.
    `statement`: the INSERT to run when the rows do not go in a COPY (default `insert(table)`).

    On PostgreSQL, from COPY_FROM_ROWS rows, they go in one `COPY ... FROM STDIN`: an executemany
    INSERT is one execution per row on the server, and psycopg adapts every parameter of every row
    in Python; COPY is one statement whose rows the server reads in bulk. Values go through the
    columns' own bind processors first, so they are stored exactly as the INSERT would store them
    (JSON, UTC datetimes), and a refused row raises the error the INSERT would."""
    if not rows:
        return
    dialect = db.get_bind().dialect
    keys = list(rows[0])
    defaults = {
        column.name: column.default
        for column in table.columns
        if column.name not in keys and column.default is not None and not column.primary_key
    }
    if (
        dialect.name != "postgresql"
        or len(rows) < COPY_FROM_ROWS
        or any(not (default.is_scalar or default.is_callable) for default in defaults.values())
    ):
        db.execute(statement if statement is not None else insert(table), rows)
        return
    columns = [table.c[key] for key in [*keys, *defaults]]
    processors = [_copy_processor(column, dialect) for column in columns]
    quote = dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) FROM STDIN"
    connection = db.connection().connection.driver_connection
    assert connection is not None
    try:
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                values = [row[key] for key in keys]
                for default in defaults.values():
                    values.append(default.arg if default.is_scalar else default.arg(None))
                copy.write_row([p(v) if p else v for p, v in zip(processors, values, strict=True)])
    except dialect.loaded_dbapi.Error as exc:
        # The error an INSERT would raise (IntegrityError...): callers catch SQLAlchemy's errors.
        raise DBAPIError.instance(statement, None, exc, dialect.loaded_dbapi.Error, dialect=dialect) from exc


def _copy_processor(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """The column's bind processor, for a COPY row. JSON values that are objects, lists or None
    are encoded here with `json.dumps`, as the processor's psycopg wrapper would encode them, and
    sent as the text the server parses: that wrapper and psycopg's Python JSON dumper cost more
    than the encoding itself, for every JSON value of every row."""
    processor = column.type._cached_bind_processor(dialect)
    if processor is None or dialect._json_serializer is not None:
        return processor
    if not isinstance(column.type.dialect_impl(dialect), JSON):
        return processor

    def encode(value: Any) -> Any:
        if value is None or type(value) in (dict, list):
            return json.dumps(value)
        return processor(value)  # SQLAlchemy's markers (JSON.NULL, null()) and the rest

    return encode


# -- engines and sessions -------------------------------------------------------------------------

_engines: dict[tuple[str, bool], Engine] = {}


def _configure_sqlite(engine: Engine, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA cache_size=-64000")
        cur.close()
        # SQL's twin of core.text.fold (PostgreSQL's is created by migration 0067), for matching
        # names without accents or case where no search document holds them (record pickers)
        dbapi_conn.create_function("carnet_fold", 1, fold, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, *, write: bool = True) -> Engine:
    """An engine for `url`. On SQLite, `write` engines open transactions with BEGIN IMMEDIATE."""
    key = (url, write)
    if key in _engines:
        return _engines[key]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
        _configure_sqlite(engine, immediate=write)
    else:
        engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        if not write and (url, True) in _engines:
            engine.dispose()
            engine = _engines[(url, True)]
    _engines[key] = engine
    return engine


def dispose_engines(url: str | None = None) -> None:
    """Close pooled connections (of `url` only, if given), e.g. after the database file was replaced."""
    for key in [k for k in _engines if url is None or k[0] == url]:
        _engines.pop(key).dispose()


class Database:
    """Session factories for one database URL: one for reads and one for writes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.write_engine = make_engine(url, write=True)
        self.read_engine = make_engine(url, write=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    def session(self, *, write: bool = True) -> Session:
        return (self._write if write else self._read)()

    @contextmanager
    def begin(self, *, write: bool = True) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        session = self.session(write=write)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


_database: Database | None = None


def get_database() -> Database:
    global _database
    from carnet.settings import get_settings

    url = get_settings().database_url
    if _database is None or _database.url != url:
        _database = Database(url)
    return _database


def set_database(database: Database | None) -> None:
    """Swap the process-wide database (tests)."""
    global _database
    _database = database
