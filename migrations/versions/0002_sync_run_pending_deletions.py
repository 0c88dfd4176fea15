"""sync runs can wait for confirmation of a mass deletion: a wider status, and the deletions held back

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 23:22:21.785324

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_deletions', sa.JSON(), nullable=True))
        batch_op.alter_column('status',
               existing_type=sa.VARCHAR(length=16),
               type_=sa.String(length=32),
               existing_nullable=False)


def downgrade():
    # "needs_confirmation" does not fit the old width: such runs deleted nothing, which "failed" also says.
    op.execute("UPDATE sync_runs SET status = 'failed', error = 'waited for a mass-deletion confirmation;"
               " nothing was deleted' WHERE status = 'needs_confirmation'")
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.alter_column('status',
               existing_type=sa.String(length=32),
               type_=sa.VARCHAR(length=16),
               existing_nullable=False)
        batch_op.drop_column('pending_deletions')
