"""monit_versions: counters of the monit files' inputs, bumped by triggers, from which the Chef ETags are derived

Revision ID: 0015_monit
Revises: 0014_lists
Create Date: 2026-12-02 06:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

# The trigger statements are the models' own (the same ones `create_all` runs), so a migrated database and a fresh
# test database cannot drift apart; tests/views/test_monit_etag.py compares the two.
from app.models.monit_versions import drop_ddl, trigger_ddl


# revision identifiers, used by Alembic.
revision = '0015_monit'
down_revision = '0014_lists'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'monit_versions',
        sa.Column('part', sa.String(length=32), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('part', name=op.f('pk_monit_versions')),
    )
    for statement in trigger_ddl(op.get_bind().dialect.name):
        op.get_bind().exec_driver_sql(statement)


def downgrade():
    for statement in drop_ddl(op.get_bind().dialect.name):
        op.get_bind().exec_driver_sql(statement)
    op.drop_table('monit_versions')
