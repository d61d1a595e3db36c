"""the layout of an import's rejected-rows file

The rejected rows are kept as the file's own table; this column says how the uploaded file was
written (CSV with its encoding and delimiter, or an Excel workbook) so that the download is
written the same way and can be corrected and imported again.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("import_batch", sa.Column("rejected_format", sa.String(100), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("import_batch", "rejected_format")
