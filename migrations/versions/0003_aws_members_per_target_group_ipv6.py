"""AWS: a load balancer member per target group (ip targets too), instances' IPv6 address

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-27 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from migrations.sqlite_rebuild import rebuild  # keeps maintenance events, balancer members, records' links


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ipv6_ip', sa.String(length=45), nullable=True))
        batch_op.create_index(batch_op.f('ix_instances_ipv6_ip'), ['ipv6_ip'], unique=False)

    def per_target_group(batch_op):
        batch_op.add_column(sa.Column('target_group', sa.String(length=255), server_default='', nullable=False))
        batch_op.add_column(sa.Column('target_ip', sa.String(length=45), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_load_balancer_members_load_balancer_id_instance_id'), type_='unique')
        batch_op.create_unique_constraint(
            'uq_load_balancer_members_membership',
            ['load_balancer_id', 'instance_id', 'target_group'])

    rebuild('load_balancer_members', per_target_group)


def downgrade():
    # Memberships in several target groups of one balancer collapse back to one row per instance.
    op.execute(
        "DELETE FROM load_balancer_members WHERE id NOT IN ("
        "SELECT MIN(id) FROM load_balancer_members GROUP BY load_balancer_id, instance_id)"
    )
    with op.batch_alter_table('load_balancer_members', schema=None) as batch_op:
        batch_op.drop_constraint(
            'uq_load_balancer_members_membership', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_load_balancer_members_load_balancer_id_instance_id'),
                                          ['load_balancer_id', 'instance_id'])
        batch_op.drop_column('target_ip')
        batch_op.drop_column('target_group')

    def drop_ipv6(batch_op):
        batch_op.drop_index(batch_op.f('ix_instances_ipv6_ip'))
        batch_op.drop_column('ipv6_ip')

    # Dropping a column rebuilds instances on SQLite: with foreign keys enforced that deleted every maintenance
    # event and balancer member (ON DELETE CASCADE) and unlinked DNS records (SET NULL).
    rebuild('instances', drop_ipv6)
