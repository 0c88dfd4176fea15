"""keyset pages of the certificates and alerts lists: a generated, never-NULL sort key on each table and one index
per filter in the exact order of the keys

Revision ID: 0016_certlists
Revises: 0015_monit
Create Date: 2026-12-02 07:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import app.models.base
from migrations.sqlite_rebuild import rebuild
from app.models.platform import NO_EXPIRY_TEXT


# revision identifiers, used by Alembic.
revision = '0016_certlists'
down_revision = '0015_monit'
branch_labels = None
depends_on = None

# The certificates list sorts by expiry, none known last; the alerts list puts unresolved ones first. Neither
# `expires_at IS NULL` nor `resolved_at IS NOT NULL` can lead an index (or a keyset cursor, whose keys are never
# NULL), so each becomes a stored column the database generates (SQLite adds those by rebuilding the table).
GENERATED = [
    ('certificates', 'list_expiry', app.models.base.UtcDateTime(), f"coalesce(expires_at, '{NO_EXPIRY_TEXT}')"),
    ('alerts', 'list_unresolved', sa.Boolean(), 'resolved_at IS NULL'),
]
CREATED = [
    ('ix_certificates_expiry_name', 'certificates', ['list_expiry', 'name', 'id']),
    ('ix_certificates_cluster_expiry_name', 'certificates', ['cluster_id', 'list_expiry', 'name', 'id']),
    ('ix_alerts_list', 'alerts', ['list_unresolved', 'last_at', 'id']),
    ('ix_alerts_kind_list', 'alerts', ['kind', 'list_unresolved', 'last_at', 'id']),
]
def upgrade():
    for table, column, column_type, expression in GENERATED:
        rebuild(table, lambda batch_op: batch_op.add_column(
            sa.Column(column, column_type, sa.Computed(expression, persisted=True), nullable=True)))
    for name, table, columns in CREATED:
        op.create_index(name, table, columns, unique=False)


def downgrade():
    for name, table, _ in reversed(CREATED):
        op.drop_index(name, table_name=table)
    for table, column, _, _ in reversed(GENERATED):
        rebuild(table, lambda batch_op: batch_op.drop_column(column))
