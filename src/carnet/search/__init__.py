"""Global search: the JSON endpoint, the top-bar suggestions and the full results page."""
