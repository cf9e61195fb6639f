"""The history tab names what audit changes hold as ids: people, departments, organisations (as the
reader may see them), and shows field names as translated words."""

from __future__ import annotations

import re


def _rows(html: str) -> dict[str, tuple[str, str]]:
    """The changes of the newest entry."""
    html = html.split('<li class="history-item">')[1]
    return {
        label: (old, new)
        for label, old, new in re.findall(
            r'<tr><td>([^<]+)</td>\s*<td class="diff-old">([^<]*)</td><td class="diff-new">([^<]*)</td></tr>',
            html,
        )
    }


def test_history_shows_names_instead_of_ids(api, web, personas, db):
    from carnet.accounts.models import User

    def name(key: str) -> str:
        return db.get(User, personas[key].id).full_name

    admin = api("admin")
    group = admin.post(
        "/api/v1/organisations", json={"name": "Groupe Hospitalier Sud", "owner_id": personas["admin"].id}
    ).json()
    org = admin.post(
        "/api/v1/organisations", json={"name": "Clinique du Lac", "owner_id": personas["alice"].id}
    ).json()
    r = admin.patch(
        f"/api/v1/organisations/{org['id']}",
        json={"owner_id": personas["bob"].id, "parent_id": group["id"], "siren": "732829320"},
        headers={"If-Match": f'"{org["version"]}"'},
    )
    assert r.status_code == 200, r.text

    rows = _rows(web("admin").get(f"/records/organisation/{org['id']}/history").text)
    assert rows["Propriétaire"] == (name("alice"), name("bob"))
    assert rows["Maison mère"] == ("—", "Groupe Hospitalier Sud")
    assert rows["SIREN"] == ("—", "732829320")  # numbers that are not ids stay as they are

    # bob sees the organisation (he owns it) but not the group: its number, never its name
    rows = _rows(web("bob").get(f"/records/organisation/{org['id']}/history").text)
    assert rows["Maison mère"] == ("—", str(group["id"]))
