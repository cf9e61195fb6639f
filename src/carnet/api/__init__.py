"""HTTP glue shared by every domain's JSON routes: authentication dependencies, problem details,
pagination, ETags and idempotency."""
