"""Home page and cross-record panels (related records); composes the other domains."""
