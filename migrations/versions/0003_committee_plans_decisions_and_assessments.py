"""committee plans, decisions, assessments and programme status

Five tables that are only ever inserted into: a correction is a new row whose
``supersedes_id`` names the row it replaces.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 15:40:22.058923
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('committee_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('unit_code', sa.String(length=32), nullable=False),
    sa.Column('unit_name', sa.String(length=200), nullable=False),
    sa.Column('boundary', sa.String(length=64), nullable=False),
    sa.Column('cut', sa.String(length=16), nullable=False),
    sa.Column('categories', sa.String(length=400), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('year', 'level', 'unit_code')
    )

    op.create_table('programme_status',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('boundary', sa.String(length=64), nullable=False),
    sa.Column('unit_code', sa.String(length=32), nullable=False),
    sa.Column('unit_name', sa.String(length=200), nullable=False),
    sa.Column('programme', sa.String(length=200), nullable=False),
    sa.Column('phase', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['supersedes_id'], ['programme_status.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('programme_status', schema=None) as batch_op:
        batch_op.create_index('ix_programme_status_unit', ['unit_code', 'programme', 'phase'], unique=False)

    op.create_table('committee_area',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source_code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('boundary', sa.String(length=64), nullable=False),
    sa.Column('geom_wkb', sa.LargeBinary(), nullable=False),
    sa.Column('area_km2', sa.Float(), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['committee_plan.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('committee_area', schema=None) as batch_op:
        batch_op.create_index('ix_committee_area_plan', ['plan_id'], unique=False)

    op.create_table('committee_assessment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('proposal', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['area_id'], ['committee_area.id'], ),
    sa.ForeignKeyConstraint(['supersedes_id'], ['committee_assessment.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('committee_assessment', schema=None) as batch_op:
        batch_op.create_index('ix_committee_assessment_area_year', ['area_id', 'year'], unique=False)

    op.create_table('committee_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('target_pct', sa.Float(), nullable=False),
    sa.Column('responsible_unit', sa.String(length=300), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['area_id'], ['committee_area.id'], ),
    sa.ForeignKeyConstraint(['supersedes_id'], ['committee_decision.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('committee_decision', schema=None) as batch_op:
        batch_op.create_index('ix_committee_decision_area', ['area_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('committee_decision', schema=None) as batch_op:
        batch_op.drop_index('ix_committee_decision_area')

    op.drop_table('committee_decision')
    with op.batch_alter_table('committee_assessment', schema=None) as batch_op:
        batch_op.drop_index('ix_committee_assessment_area_year')

    op.drop_table('committee_assessment')
    with op.batch_alter_table('committee_area', schema=None) as batch_op:
        batch_op.drop_index('ix_committee_area_plan')

    op.drop_table('committee_area')
    with op.batch_alter_table('programme_status', schema=None) as batch_op:
        batch_op.drop_index('ix_programme_status_unit')

    op.drop_table('programme_status')
    op.drop_table('committee_plan')
