"""History: every attempt of a run (timeline) and the group a run belongs to

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
        batch_op.create_index("ix_task_runs_group_id", ["group_id"], unique=False)


def downgrade():
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_task_runs_group_id")
        batch_op.drop_column("timeline")
        batch_op.drop_column("group_id")
