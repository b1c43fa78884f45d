"""meltanolabs-target-postgres 0.8.1 storing JSON schema date-times as timestamptz.

Why: the stock loader maps ``format: date-time`` to ``TIMESTAMP`` (without time zone) in
``PostgresConnector.jsonschema_to_sql``, so an instant such as ``2025-01-11T11:04:57+00:00`` is
stored as wall time in the writing session's ``TimeZone`` and its offset is lost. Here the
connector maps ``date-time`` to ``TIMESTAMP WITH TIME ZONE`` instead. The SQL target builds its
one connector from ``default_sink_class.connector_class`` and hands it to every sink, so table
creation, the temp tables (copied from the real table), the merges and ``_adapt_column_type`` all
see the same type. ``_adapt_column_type`` compares ``str()`` of the types, which is ``TIMESTAMP``
with or without a time zone: a ``timestamp`` column made by the stock loader is left as it is
(never altered), so convert it once (``ALTER COLUMN ... TYPE timestamptz USING ... AT TIME ZONE
'UTC'``) or load into a new schema.

Also: with ``hard_delete: true`` the stock loader deletes rows only on ACTIVATE_VERSION; records
that arrive with ``_sdc_deleted_at`` set (tombstones from taps that detect deletes) are merged
and kept (meltano/sdk#3444). This sink deletes those rows after the merge, in the same
transaction. With ``hard_delete: false`` they stay, marked by ``_sdc_deleted_at``. Either way
``add_record_metadata`` must stay on (the default): without it the SDK drops ``_sdc_deleted_at``
from every record.

Everything else (name, settings, behaviour) is target-postgres 0.8.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import sqlalchemy
from singer_sdk.sql.connector import JSONSchemaToSQL
from sqlalchemy.dialects.postgresql import TIMESTAMP
from target_postgres.connector import PostgresConnector
from target_postgres.sinks import PostgresSink
from target_postgres.target import TargetPostgres


def _timestamptz(_schema: dict[str, Any]) -> TIMESTAMP:
    return TIMESTAMP(timezone=True)


class PostgresTZConnector(PostgresConnector):
    """The stock connector with ``date-time`` -> ``TIMESTAMP WITH TIME ZONE``."""

    @cached_property
    def jsonschema_to_sql(self) -> JSONSchemaToSQL:
        """The stock type map, date-time handler replaced."""
        to_sql = super().jsonschema_to_sql
        to_sql.register_format_handler("date-time", _timestamptz)
        return to_sql


class PostgresTZSink(PostgresSink):
    """The stock sink on the timestamptz connector; hard_delete also applies to tombstones."""

    connector_class = PostgresTZConnector

    def upsert(
        self,
        from_table: sqlalchemy.Table,
        to_table: sqlalchemy.Table,
        schema: dict[str, Any],
        join_keys: Sequence[str],
        connection: sqlalchemy.engine.Connection,
    ) -> int | None:
        """Merge as usual; then, with hard_delete, delete the rows this batch tombstoned."""
        result = super().upsert(from_table, to_table, schema, join_keys, connection)
        column = self.soft_delete_column_name
        if self.config.get("hard_delete") and column in from_table.columns:
            if join_keys:
                where = sqlalchemy.and_(
                    *(from_table.c[k] == to_table.c[k] for k in join_keys),
                    from_table.c[column].is_not(None),
                )
            else:
                where = to_table.c[column].is_not(None)
            connection.execute(sqlalchemy.delete(to_table).where(where))
        return result


class TargetPostgresTZ(TargetPostgres):
    """target-postgres with date-times as timestamptz."""

    default_sink_class = PostgresTZSink


if __name__ == "__main__":
    TargetPostgresTZ.cli()
