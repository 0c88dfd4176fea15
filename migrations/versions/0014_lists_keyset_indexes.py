"""keyset pages of the instances list, a DNS zone's records and the audit log: one index per sort and filter,
in the exact order of the keys (sort column, tie-breakers, id)

Revision ID: 0014_lists
Revises: 0013
Create Date: 2026-12-02 06:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import app.models.base
from migrations.sqlite_rebuild import rebuild  # keeps maintenance events, balancer members, records' links


# revision identifiers, used by Alembic.
revision = '0014_lists'
down_revision = '0013'
branch_labels = None
depends_on = None

# The instances list sorts by the name it shows (the AWS id without a Name tag) and, for never-launched instances,
# by when they were first seen: stored columns the database generates (SQLite adds those by rebuilding the table),
# so the indexes are plain and narrow (a numbered page's key-only walk is an index-only scan).
GENERATED = [
    ('list_label', sa.String(length=255), 'coalesce(name, aws_id)'),
    ('list_launched', app.models.base.UtcDateTime(), 'coalesce(launched_at, synced_at)'),
]
CREATED = [
    ('ix_instances_label', 'instances', ['list_label', 'id']),
    ('ix_instances_region_label', 'instances', ['aws_region', 'list_label', 'id']),
    ('ix_instances_role_label', 'instances', ['role', 'list_label', 'id']),
    ('ix_instances_state_label', 'instances', ['state', 'list_label', 'id']),
    ('ix_instances_launched_label', 'instances', ['list_launched', 'list_label', 'id']),
    ('ix_dns_records_zone_name_type', 'dns_records', ['zone_id', 'name', 'type', 'id']),
    ('ix_dns_records_zone_type_name', 'dns_records', ['zone_id', 'type', 'name', 'id']),
    # The action last: the default view leaves sign-ins out, and stays index-only.
    ('ix_audit_events_at_id', 'audit_events', ['at', 'id', 'action']),
    ('ix_audit_events_actor_at_id', 'audit_events', ['actor', 'at', 'id', 'action']),
    ('ix_audit_events_action_at_id', 'audit_events', ['action', 'at', 'id']),
]
# What the new ones replace (each a prefix of one above, or on a nullable key a keyset cannot use).
DROPPED = [
    ('ix_instances_region_name', 'instances', ['aws_region', 'name']),
    ('ix_instances_role_name', 'instances', ['role', 'name']),
    ('ix_instances_state_name', 'instances', ['state', 'name']),
    ('ix_instances_launched_at_name', 'instances', ['launched_at', 'name']),
    ('ix_dns_records_zone_name', 'dns_records', ['zone_id', 'name']),
    ('ix_audit_events_at', 'audit_events', ['at']),
    ('ix_audit_events_actor_at', 'audit_events', ['actor', 'at']),
    ('ix_audit_events_action_at', 'audit_events', ['action', 'at']),
]


def upgrade():
    def add(batch_op):
        for column, column_type, expression in GENERATED:
            batch_op.add_column(sa.Column(column, column_type, sa.Computed(expression, persisted=True), nullable=True))

    rebuild('instances', add)
    for name, table, columns in CREATED:
        op.create_index(name, table, columns, unique=False)
    for name, table, _ in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade():
    for name, table, columns in DROPPED:
        op.create_index(name, table, columns, unique=False)
    for name, table, _ in reversed(CREATED):
        op.drop_index(name, table_name=table)
    def drop(batch_op):
        for column, _, _ in reversed(GENERATED):
            batch_op.drop_column(column)

    rebuild('instances', drop)
