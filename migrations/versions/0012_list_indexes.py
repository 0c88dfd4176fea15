"""the index every list sort needs: apps and instances by each sortable column, sync history by start

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 02:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

INDEXES = [
    ('ix_apps_name_id', 'apps', ['name', 'id']),
    ('ix_apps_owner_name', 'apps', ['owner', 'name', 'id']),
    ('ix_apps_type_name', 'apps', ['app_type', 'name', 'id']),
    ('ix_apps_synced_at_name', 'apps', ['synced_at', 'name', 'id']),
    ('ix_instances_region_name', 'instances', ['aws_region', 'name']),
    ('ix_instances_role_name', 'instances', ['role', 'name']),
    ('ix_instances_state_name', 'instances', ['state', 'name']),
    ('ix_instances_launched_at_name', 'instances', ['launched_at', 'name']),
    ('ix_sync_runs_started_id', 'sync_runs', ['started_at', 'id']),
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade():
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
