"""Administration and personal settings screens (users, departments, roles, visibility, custom
fields, tags, audit trail, profile) and saved list views."""
