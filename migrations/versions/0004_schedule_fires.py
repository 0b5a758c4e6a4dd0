"""Beat's outbox: runs claimed and not yet accepted by the broker, re-published after a crash

Revision ID: 0004_schedule_fires
Revises: 0003_history_retry_of
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_schedule_fires"
down_revision = "0003_history_retry_of"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "schedule_fires",
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fence", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("task_id"),
    )
    with op.batch_alter_table("schedule_fires", schema=None) as batch_op:
        batch_op.create_index("ix_schedule_fires_claimed_at", ["claimed_at"], unique=False)


def downgrade():
    with op.batch_alter_table("schedule_fires", schema=None) as batch_op:
        batch_op.drop_index("ix_schedule_fires_claimed_at")
    op.drop_table("schedule_fires")
