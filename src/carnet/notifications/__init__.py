"""In-app and email notifications, with per-user preferences per type and channel."""
