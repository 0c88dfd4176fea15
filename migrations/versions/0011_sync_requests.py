"""sync requests: one row per "Sync now" / scheduled run, fanned out to one job per scope; sync_runs.request_id

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 02:20:00.000000

"""
from alembic import op
import sqlalchemy as sa

import app.models.base


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sync_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=True),
    sa.Column('scope', sa.String(length=64), nullable=True),
    sa.Column('requested_by', sa.String(length=128), nullable=True),
    sa.Column('created_at', app.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', app.models.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('scope_jobs', sa.JSON(), nullable=False),
    sa.Column('job_id', sa.String(length=64), nullable=True),
    sa.Column('finish_job_id', sa.String(length=64), nullable=True),
    sa.Column('relations_changed', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_requests'))
    )
    with op.batch_alter_table('sync_requests', schema=None) as batch_op:
        batch_op.create_index('ix_sync_requests_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sync_requests_finish_job_id'), ['finish_job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sync_requests_job_id'), ['job_id'], unique=False)
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_sync_runs_request_id'), ['request_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_sync_runs_request_id_sync_requests'), 'sync_requests',
                                    ['request_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_sync_runs_request_id_sync_requests'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_sync_runs_request_id'))
        batch_op.drop_column('request_id')
    with op.batch_alter_table('sync_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_requests_job_id'))
        batch_op.drop_index(batch_op.f('ix_sync_requests_finish_job_id'))
        batch_op.drop_index('ix_sync_requests_status_created')
    op.drop_table('sync_requests')
