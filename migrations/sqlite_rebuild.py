"""A table change that SQLite makes by rebuilding the table, without losing the rows of the tables referencing it.

Alembic's batch mode copies the table, drops the old one and renames the copy. With foreign keys enforced (the
panel's SQLite connections set `PRAGMA foreign_keys=ON`) dropping the old copy nulls or deletes every referencing
row (ON DELETE SET NULL / CASCADE): maintenance events and balancer members of instances, domains' certificates,
alert deliveries. So the check is off for the rebuild and `foreign_key_check` runs after it. SQLite ignores that
pragma inside a transaction, so whatever the driver has open is committed first, on the driver's connection
(SQLite's DDL is not transactional for Alembic anyway; its own transaction stays open and records the revision).
On PostgreSQL the change is a plain ALTER TABLE.
"""
from alembic import op


def set_foreign_keys(driver_connection, enforced: bool) -> None:
    """Switch SQLite's foreign key checks on the driver's connection (committing what it has open first)."""
    if driver_connection.in_transaction:
        driver_connection.commit()
    driver_connection.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
    if foreign_keys_enforced(driver_connection) != enforced:
        raise RuntimeError('SQLite did not switch its foreign key checks: a rebuild would lose rows')


def _foreign_keys(enforced: bool) -> None:
    set_foreign_keys(op.get_bind().connection.dbapi_connection, enforced)


def foreign_keys_enforced(driver_connection) -> bool:
    return bool(driver_connection.execute('PRAGMA foreign_keys').fetchone()[0])


def rebuild(table: str, change) -> None:
    """`change(batch_op)` in a batch on `table`, keeping the rows of the tables that reference it. (migrations/env.py
    already runs every SQLite migration with the check off; this keeps a migration safe when run another way.)"""
    sqlite = op.get_bind().dialect.name == 'sqlite'
    enforced = sqlite and foreign_keys_enforced(op.get_bind().connection.dbapi_connection)
    if enforced:
        _foreign_keys(False)
    try:
        with op.batch_alter_table(table) as batch_op:
            change(batch_op)
    finally:
        if enforced:
            _foreign_keys(True)
    if sqlite:
        broken = op.get_bind().exec_driver_sql('PRAGMA foreign_key_check').fetchall()
        if broken:
            raise RuntimeError(f'rebuilding {table} broke references: {broken[:5]}')
