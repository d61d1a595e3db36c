"""repeat places a committee plan adopted as its tụ điểm

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "committee_place",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("place_key", sa.String(length=400), nullable=False),
        sa.Column("label", sa.String(length=400), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("radius_m", sa.Float(), nullable=False),
        sa.Column("boundary", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("unit_name", sa.String(length=200), nullable=False),
        sa.Column("incidents", sa.Integer(), nullable=False),
        sa.Column("first_date", sa.Date(), nullable=True),
        sa.Column("last_date", sa.Date(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["committee_plan.id"]),
        sa.ForeignKeyConstraint(["supersedes_id"], ["committee_place.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("committee_place", schema=None) as batch_op:
        batch_op.create_index("ix_committee_place_plan", ["plan_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("committee_place", schema=None) as batch_op:
        batch_op.drop_index("ix_committee_place_plan")
    op.drop_table("committee_place")
