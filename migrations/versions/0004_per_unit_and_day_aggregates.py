"""per unit and day aggregates

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 16:16:03.655259
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('area_day',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('n_cleared', sa.Integer(), nullable=False),
    sa.Column('n_sev1', sa.Integer(), nullable=False),
    sa.Column('n_sev2', sa.Integer(), nullable=False),
    sa.Column('n_sev3', sa.Integer(), nullable=False),
    sa.Column('n_sev4', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['boundary_version.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id', 'local_date', 'area_id', 'category'),
    sqlite_with_rowid=False
    )
    # fill it from the incidents already stored
    op.execute(
        "INSERT INTO area_day (version_id, local_date, area_id, category, n, n_cleared, n_sev1, n_sev2, "
        "n_sev3, n_sev4) SELECT ia.version_id, i.local_date, ia.area_id, i.category, COUNT(*), "
        "SUM(CASE WHEN i.cleared THEN 1 ELSE 0 END), SUM(CASE WHEN i.severity = 1 THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN i.severity = 2 THEN 1 ELSE 0 END), SUM(CASE WHEN i.severity = 3 THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN i.severity = 4 THEN 1 ELSE 0 END) FROM incident i "
        "JOIN incident_area ia ON ia.incident_id = i.id WHERE ia.area_id IS NOT NULL "
        "GROUP BY ia.version_id, i.local_date, ia.area_id, i.category")


def downgrade() -> None:
    op.drop_table('area_day')
