"""The bell: a task assigned by a colleague shows up in the count without reloading (server-sent
events from the live server, whose embedded runner dispatches the event), the dropdown lists it
with a link to the task, and the preferences page shows the type × channel grid."""

from __future__ import annotations

import json
from typing import Any

import pytest
from screenshots import shot

pytestmark = pytest.mark.browser

DEMO_ADMIN = ("admin@carnet.demo", "carnet-demo-2026")


def _assign_task(page: Any, owner_id: int, title: str) -> int:
    """Agnès (the browser-test admin) creates a task for someone else through the API, with her
    session cookie and CSRF token."""
    csrf = json.loads(page.get_attribute("body", "hx-headers"))["X-CSRF-Token"]
    r = page.request.post(
        "/api/v1/tasks", data={"title": title, "owner_id": owner_id}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status == 201, r.text()
    return r.json()["id"]


def test_bell_counts_live_and_lists_the_assignment(browser: Any, live_server: str, login: Any) -> None:
    agnes = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900}, locale="fr-FR")
    demo = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900}, locale="fr-FR")
    try:
        sender = agnes.new_page()
        login(sender)
        users = sender.request.get("/api/v1/users?email=" + DEMO_ADMIN[0]).json()["items"]
        owner_id = next(u["id"] for u in users if u["email"] == DEMO_ADMIN[0])

        page = demo.new_page()
        page.set_default_timeout(15_000)
        login(page, *DEMO_ADMIN)
        page.goto("/tasks")
        badge = page.locator("[data-testid=bell-count]")
        start = int(badge.text_content() or "0") if badge.is_visible() else 0

        task_id = _assign_task(sender, owner_id, "Rappeler la Boulangerie Martin")
        # no reload: the stream brings the new count
        page.wait_for_function(
            f"document.querySelector('[data-testid=bell-count]').textContent.trim() === '{start + 1}'"
        )
        assert badge.is_visible()
        shot(page, "notifications-bell")

        page.click("[data-testid=bell]")
        item = page.locator("#notif-panel [data-testid=notification]").first
        item.wait_for()
        assert "Tâche qui vous est attribuée : Rappeler la Boulangerie Martin" in item.text_content()
        assert "Attribuée par Agnès Navigateur" in item.text_content()
        shot(page, "notifications-menu")

        item.locator("a.notif-title").click()
        page.wait_for_url(f"**/tasks/{task_id}")
        page.wait_for_function(
            f"document.querySelector('[data-testid=bell-count]').textContent.trim() === '{start}'"
            f" || document.querySelector('[data-testid=bell-count]').hidden"
        )

        page.goto("/profile/notifications")
        grid = page.locator("[data-testid=notification-preferences]")
        assert grid.locator("input[name='task_assigned.email']").is_checked()
        assert not grid.locator("input[name='system.email']").is_checked()
        grid.locator("input[name='task_assigned.email']").uncheck()
        shot(page, "notifications-preferences")
        grid.locator("button[type=submit]").click()
        page.wait_for_selector(".flash-success")
        assert not page.locator("input[name='task_assigned.email']").is_checked()

        # the assignment email is kept for admins to see: no SMTP server in this installation
        sender.goto("/settings/emails")
        assert sender.locator("[data-testid=no-smtp]").is_visible()
        row = sender.locator("[data-testid=outgoing-emails] tbody tr").first
        assert "admin@carnet.demo" in row.text_content()
        assert "Non envoyé : aucun SMTP configuré" in row.text_content()
        shot(sender, "outgoing-emails")
    finally:
        agnes.close()
        demo.close()
