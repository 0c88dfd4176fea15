"""limit sets may unset limits they do not name; an app type set in the panel wins over the settings label

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-02 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('limit_sets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unset_extra', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('app_type_override', sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.drop_column('app_type_override')
    with op.batch_alter_table('limit_sets', schema=None) as batch_op:
        batch_op.drop_column('unset_extra')
