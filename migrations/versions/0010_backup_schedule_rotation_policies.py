"""nightly backup claims (one per database and local date), per-cluster backup policies, a region's backup minute

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 00:45:00.000000

"""
from alembic import op
import sqlalchemy as sa

import app.models.base


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('scheduled_backup_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('database_id', sa.Integer(), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('claimed_at', app.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('operation_uuid', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['database_id'], ['databases.id'],
                            name=op.f('fk_scheduled_backup_claims_database_id_databases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_backup_claims')),
    sa.UniqueConstraint('database_id', 'local_date', name=op.f('uq_scheduled_backup_claims_database_id_local_date'))
    )
    op.create_table('backup_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.Column('keep_daily', sa.Integer(), nullable=False),
    sa.Column('keep_weekly', sa.Integer(), nullable=False),
    sa.Column('keep_monthly', sa.Integer(), nullable=False),
    sa.Column('manual_cap', sa.Integer(), nullable=False),
    sa.Column('updated_at', app.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id'], name=op.f('fk_backup_policies_cluster_id_clusters'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backup_policies')),
    sa.UniqueConstraint('cluster_id', name=op.f('uq_backup_policies_cluster_id'))
    )
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backup_minute', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.drop_column('backup_minute')
    op.drop_table('backup_policies')
    op.drop_table('scheduled_backup_claims')
