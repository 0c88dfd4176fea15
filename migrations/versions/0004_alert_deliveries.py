"""Alerts: a delivery per notification and channel; an alert keeps its details, revision and pending notice

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:01:40.797811

"""
from alembic import op
import sqlalchemy as sa

import app.models.base


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('alert_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('notice', sa.String(length=16), nullable=False),
    sa.Column('revision', sa.String(length=255), nullable=True),
    sa.Column('channel', sa.String(length=128), nullable=False),
    sa.Column('channel_label', sa.String(length=255), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', app.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', app.models.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', app.models.base.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_deliveries_alert_id_alerts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_deliveries'))
    )
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_alert_deliveries_alert_channel', ['alert_id', 'channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_deliveries_state'), ['state'], unique=False)

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('revision', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('pending_notice', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_alerts_pending_notice'), ['pending_notice'], unique=False)



def downgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_pending_notice'))
        batch_op.drop_column('pending_notice')
        batch_op.drop_column('revision')
        batch_op.drop_column('details')

    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_deliveries_state'))
        batch_op.drop_index('ix_alert_deliveries_alert_channel')

    op.drop_table('alert_deliveries')
