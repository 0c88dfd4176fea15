"""backups record their last restore drill: verified | failed, when, tables and rows restored, why it failed

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import app.models.base


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('backups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verification', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('verified_at', app.models.base.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('verified_tables', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('verified_rows', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('verification_error', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('backups', schema=None) as batch_op:
        for column in ('verification_error', 'verified_rows', 'verified_tables', 'verified_at', 'verification'):
            batch_op.drop_column(column)
