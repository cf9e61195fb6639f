"""The UI shell: layout, shared macros, htmx helpers, static assets."""
