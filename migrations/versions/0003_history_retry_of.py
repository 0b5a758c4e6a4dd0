"""Index runs by the run they retry, for "retried as" links at any history size

Revision ID: 0003_history_retry_of
Revises: 0002_schedules
"""

from alembic import op

revision = "0003_history_retry_of"
down_revision = "0002_schedules"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.create_index("ix_task_runs_retry_of", ["retry_of"], unique=False)


def downgrade():
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_task_runs_retry_of")
