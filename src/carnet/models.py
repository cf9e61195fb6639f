"""Imports every table so metadata (Alembic, tests) sees the whole schema, and every domain's job
functions and event consumers so the runners know them."""

from __future__ import annotations

import importlib
import pkgutil

import carnet
from carnet.core import (  # noqa: F401
    attachments,
    audit,
    customfields,
    events,
    housekeeping,
    jobs,
    mail,
    permissions,
    search,
    sequences,
    tags,
)
from carnet.core.db import Base

for _info in pkgutil.iter_modules(carnet.__path__):
    if _info.ispkg and _info.name not in ("core", "web", "api"):
        try:
            importlib.import_module(f"carnet.{_info.name}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"carnet.{_info.name}.models":
                raise
        # services register record types (custom fields, tags, search need the registry);
        # jobs and events register job functions and event consumers
        for _adapter in ("service", "jobs", "events"):
            try:
                importlib.import_module(f"carnet.{_info.name}.{_adapter}")
            except ModuleNotFoundError as exc:
                if exc.name != f"carnet.{_info.name}.{_adapter}":
                    raise

metadata = Base.metadata
