"""Who is acting: the Actor every service call receives."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    department_id: int | None = None
    role: str = "system"
    permissions: frozenset[str] = field(default_factory=frozenset)
    is_admin: bool = False
    is_manager: bool = False
    language: str = "fr"
    timezone: str = "Europe/Paris"
    label: str = "system"
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    token_id: int | None = None
    session_id: int | None = None

    def can(self, permission: str) -> bool:
        """`permission` is `<module>:<action>`; admins can do everything."""
        if self.is_admin:
            return True
        module, _, _action = permission.partition(":")
        return permission in self.permissions or f"{module}:admin" in self.permissions


SYSTEM = Actor(user_id=None, role="system", is_admin=True, label="system")
