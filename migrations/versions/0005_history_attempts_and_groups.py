"""History: every attempt of a run (timeline), the group a run belongs to, and error groups

Revision ID: 0005_history_attempts_and_groups
Revises: 0004_schedule_fires
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_history_attempts_and_groups"
down_revision = "0004_schedule_fires"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("timeline", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("error_group", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_task_runs_group_id", ["group_id"], unique=False)
        batch_op.create_index("ix_task_runs_error_group_seq", ["error_group", "seq"], unique=False)
    failures = sa.text("error_group IS NOT NULL")
    op.create_index(
        "ix_task_runs_failures",
        "task_runs",
        ["seq", "error_group", "name", "created_at"],
        sqlite_where=failures,
        postgresql_where=failures,
    )


def downgrade():
    op.drop_index("ix_task_runs_failures", table_name="task_runs")
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_task_runs_error_group_seq")
        batch_op.drop_index("ix_task_runs_group_id")
        batch_op.drop_column("error_group")
        batch_op.drop_column("timeline")
        batch_op.drop_column("group_id")
