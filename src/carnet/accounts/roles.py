"""Built-in roles and their permissions."""

from __future__ import annotations

from carnet.core.permissions import ACTIONS, MODULES

CRM = ("organisations", "contacts", "deals", "activities", "tasks")
SETTINGS = ("users", "departments", "roles", "custom_fields", "tags", "pipelines")
# Sales documents and finance (issue 4).
BILLING = ("quotes", "invoices", "payments", "contracts")
# Projects (issue 5): templates are read by everyone, written by managers.
PROJECTS = ("projects",)
TEMPLATES = ("project_templates",)
# The health transparency register (issue 5 §4): sales record, managers and finance also delete and export.
TRANSPARENCY = ("transparency",)


def _perms(modules: tuple[str, ...], actions: tuple[str, ...]) -> list[str]:
    return [f"{m}:{a}" for m in modules for a in actions]


BUILTIN_ROLES: dict[str, dict] = {
    "admin": {
        "label": "Administrator",
        "is_admin": True,
        "is_manager": True,
        "permissions": _perms(MODULES, ACTIONS),
    },
    "manager": {
        "label": "Manager",
        "is_admin": False,
        "is_manager": True,
        "permissions": _perms(CRM, ("read", "create", "update", "delete", "export"))
        + _perms(("pipelines", "tags", "custom_fields", "users", "departments", "roles"), ("read",))
        + _perms(("imports",), ("read", "create"))
        + ["tags:create", "tags:update", "audit:read"]
        + _perms(BILLING + ("products",), ("read", "create", "update", "delete", "export"))
        + ["company:read", "finance:read"]
        + _perms(("workflows",), ("read", "create", "update", "delete"))
        + _perms(PROJECTS, ("read", "create", "update", "delete", "export"))
        + _perms(TEMPLATES, ("read", "create", "update", "delete"))
        + _perms(TRANSPARENCY, ("read", "create", "update", "delete", "export")),
    },
    "sales": {
        "label": "Sales",
        "is_admin": False,
        "is_manager": False,
        "permissions": _perms(CRM, ("read", "create", "update", "delete"))
        + _perms(("pipelines", "tags", "custom_fields", "users", "departments", "roles"), ("read",))
        + _perms(("imports",), ("read", "create"))
        + ["tags:create", "workflows:read"]
        + _perms(("quotes",), ("read", "create", "update"))
        + ["invoices:read", "products:read", "company:read"]
        + _perms(PROJECTS, ("read", "create", "update"))
        + _perms(TEMPLATES, ("read",))
        + _perms(TRANSPARENCY, ("read", "create", "update")),
    },
    "finance": {
        "label": "Finance",
        "is_admin": False,
        "is_manager": False,
        "permissions": _perms(CRM, ("read", "export"))
        + _perms(("organisations", "contacts"), ("update",))
        + _perms(("pipelines", "tags", "custom_fields", "users", "departments", "roles"), ("read",))
        + _perms(BILLING + ("products",), ("read", "create", "update"))
        + _perms(BILLING, ("export",))
        + ["company:read", "company:update", "workflows:read"]
        + _perms(("finance",), ("read", "update", "export"))
        + _perms(PROJECTS + TEMPLATES, ("read",))
        + _perms(TRANSPARENCY, ("read", "create", "update", "delete", "export")),
    },
    "read-only": {
        "label": "Read only",
        "is_admin": False,
        "is_manager": False,
        "permissions": _perms(
            CRM
            + ("pipelines", "tags", "custom_fields", "users", "departments", "roles", "workflows")
            + BILLING
            + ("products", "company", "finance")
            + PROJECTS
            + TEMPLATES
            + TRANSPARENCY,
            ("read",),
        ),
    },
}
