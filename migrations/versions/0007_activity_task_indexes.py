"""Indexes for activities and tasks at scale.

- activities (occurred_at, id): the activity list, newest first, reads a page from the index
  instead of sorting every visible row (2 million rows in the benchmark).
- tasks.previous_task_id: finding a task's next occurrence, and the ON DELETE SET NULL when a task
  is deleted, must not scan the whole tasks table.

Revision ID: 0007
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index("ix_activities_when", ["occurred_at", "id"], unique=False)
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_previous_task_id"), ["previous_task_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_previous_task_id"))
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index("ix_activities_when")
