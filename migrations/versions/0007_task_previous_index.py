"""Index tasks.previous_task_id: finding the next occurrence of a recurring task, and the
ON DELETE SET NULL when a task is deleted, must not scan the whole tasks table.

Revision ID: 0007
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_previous_task_id"), ["previous_task_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_previous_task_id"))
