"""Background work as users see it: the jobs admin page and API, and the read-only events feed."""
