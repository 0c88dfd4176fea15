"""DNS change sets: progress, parameters, errors; items with position, zone, reason and the applied record; records that follow an instance

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

import app.models.base
from migrations.sqlite_rebuild import rebuild  # keeps change set items and what points at the records


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _widen_change_sets(batch_op):
    batch_op.add_column(sa.Column('parameters', sa.JSON(), nullable=True))
    batch_op.add_column(sa.Column('applied_by', sa.String(length=128), nullable=True))
    batch_op.add_column(sa.Column('finished_at', app.models.base.UtcDateTime(timezone=True), nullable=True))
    batch_op.add_column(sa.Column('job_id', sa.String(length=64), nullable=True))
    batch_op.add_column(sa.Column('progress', sa.Integer(), server_default='0', nullable=False))
    batch_op.add_column(sa.Column('progress_message', sa.String(length=255), nullable=True))
    batch_op.add_column(sa.Column('error', sa.Text(), nullable=True))
    batch_op.add_column(sa.Column('cloudflare_calls', sa.Integer(), server_default='0', nullable=False))
    batch_op.alter_column('state', existing_type=sa.String(length=16), type_=sa.String(length=32),
                          existing_nullable=False)


def _add_follows(batch_op):
    batch_op.add_column(sa.Column('follows_instance_id', sa.Integer(), nullable=True))
    batch_op.create_index(batch_op.f('ix_dns_records_follows_instance_id'), ['follows_instance_id'], unique=False)
    batch_op.create_foreign_key(batch_op.f('fk_dns_records_follows_instance_id_instances'), 'instances',
                                ['follows_instance_id'], ['id'], ondelete='SET NULL')


def _drop_follows(batch_op):
    batch_op.drop_constraint(batch_op.f('fk_dns_records_follows_instance_id_instances'), type_='foreignkey')
    batch_op.drop_index(batch_op.f('ix_dns_records_follows_instance_id'))
    batch_op.drop_column('follows_instance_id')


def _narrow_change_sets(batch_op):
    for column in ('cloudflare_calls', 'error', 'progress_message', 'progress', 'job_id', 'finished_at',
                   'applied_by', 'parameters'):
        batch_op.drop_column(column)
    batch_op.alter_column('state', existing_type=sa.String(length=32), type_=sa.String(length=16),
                          existing_nullable=False)


# change_sets and dns_records are rebuilt on SQLite (a type change, a new foreign key): with foreign keys enforced,
# dropping the old change_sets deleted every change set item (ON DELETE CASCADE), or failed outright on a rollback
# change set (its rollback_of_id points into the same table).
def upgrade():
    rebuild('change_sets', _widen_change_sets)

    with op.batch_alter_table('change_set_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('zone_name', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column('applied', sa.JSON(), nullable=True))

    rebuild('dns_records', _add_follows)


def downgrade():
    rebuild('dns_records', _drop_follows)

    with op.batch_alter_table('change_set_items', schema=None) as batch_op:
        for column in ('applied', 'reason', 'zone_name', 'position'):
            batch_op.drop_column(column)

    rebuild('change_sets', _narrow_change_sets)
