"""Monitoring: per-monitor overrides of the watched clusters, and internal tools

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

import app.models.base


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('internal_tools',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=512), nullable=False),
    sa.Column('created_at', app.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_internal_tools')),
    sa.UniqueConstraint('name', name=op.f('uq_internal_tools_name'))
    )
    op.create_table('monitor_watch_overrides',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('monitor_id', sa.Integer(), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.Column('watched', sa.Boolean(), nullable=False),
    sa.Column('updated_at', app.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id'],
                            name=op.f('fk_monitor_watch_overrides_cluster_id_clusters'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['monitor_id'], ['clusters.id'],
                            name=op.f('fk_monitor_watch_overrides_monitor_id_clusters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_watch_overrides')),
    sa.UniqueConstraint('monitor_id', 'cluster_id', name=op.f('uq_monitor_watch_overrides_monitor_id_cluster_id'))
    )
    with op.batch_alter_table('monitor_watch_overrides', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitor_watch_overrides_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_monitor_watch_overrides_monitor_id'), ['monitor_id'], unique=False)


def downgrade():
    with op.batch_alter_table('monitor_watch_overrides', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitor_watch_overrides_monitor_id'))
        batch_op.drop_index(batch_op.f('ix_monitor_watch_overrides_cluster_id'))

    op.drop_table('monitor_watch_overrides')
    op.drop_table('internal_tools')
