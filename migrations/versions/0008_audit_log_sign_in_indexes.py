"""audit log indexes for the sign-in limits

The sign-in limits count an account's failures (action, user name, time) and an address's
failures and refusals (action, address, time); without these indexes each sign-in scans the log.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_log_action_target_at", "audit_log", ["action", "target", "at"])
    op.create_index("ix_audit_log_action_ip_at", "audit_log", ["action", "ip", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_action_ip_at", table_name="audit_log")
    op.drop_index("ix_audit_log_action_target_at", table_name="audit_log")
