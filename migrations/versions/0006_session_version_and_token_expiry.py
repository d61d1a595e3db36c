"""session versions for accounts, expiry for API tokens

``user_account.session_version`` is part of every session cookie: raising it ends the
account's sessions. ``api_token.expires_at``: tokens are refused from then on; tokens made
before this revision get 90 days from the upgrade.

Revision ID: 0006
Revises: 0005
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("api_token") as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    api_token = sa.table("api_token", sa.column("expires_at", sa.DateTime(timezone=True)))
    op.execute(api_token.update().where(api_token.c.expires_at.is_(None)).values(
        expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=90)))


def downgrade() -> None:
    with op.batch_alter_table("api_token") as batch_op:
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.drop_column("session_version")
