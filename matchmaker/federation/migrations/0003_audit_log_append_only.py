"""The MME audit log becomes append-only in the database itself (PostgreSQL only).

A trigger refuses every UPDATE and DELETE of federation_mmerequestlog except what the node does
itself (federation.services.audit):
- an UPDATE may only take data away: clear query_payload and payload_expires_at, drop ids from
  returned_case_ids (GDPR erasure), or clear peer_id (a deleted peer); every other column must
  stay as it was;
- a DELETE passes only for rows older than the retention period that the purge announces in its
  own transaction (`set_config('matchmaker.audit_retention_days', ..., true)`).
A role that owns the table can still drop the trigger or TRUNCATE: the trigger stops mistakes and
the application's own credentials being used to rewrite history, not the database's owner.

Also two indexes so that erasing a case finds its traces without reading the whole log: a GIN
index on returned_case_ids and one on the payload's patient id (the patient we sent).
SQLite (the embedded default) has neither; the admin and the services keep to the same rules.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION federation_mmerequestlog_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kept_days integer;
    changeable text[] := ARRAY['peer_id', 'query_payload', 'payload_expires_at', 'returned_case_ids'];
BEGIN
    IF TG_OP = 'DELETE' THEN
        kept_days := NULLIF(current_setting('matchmaker.audit_retention_days', true), '')::integer;
        IF kept_days IS NOT NULL AND kept_days >= 1
           AND OLD.requested_at < now() - make_interval(days => kept_days) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'the MME audit log is append-only: row % may not be deleted', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (to_jsonb(NEW) - changeable) IS DISTINCT FROM (to_jsonb(OLD) - changeable)
       OR (NEW.peer_id IS NOT NULL AND NEW.peer_id IS DISTINCT FROM OLD.peer_id)
       OR (NEW.query_payload IS NOT NULL AND NEW.query_payload IS DISTINCT FROM OLD.query_payload)
       OR (NEW.payload_expires_at IS NOT NULL
           AND NEW.payload_expires_at IS DISTINCT FROM OLD.payload_expires_at)
       OR NOT (OLD.returned_case_ids @> NEW.returned_case_ids) THEN
        RAISE EXCEPTION 'the MME audit log is append-only: row % may only lose personal data', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER federation_mmerequestlog_append_only
    BEFORE UPDATE OR DELETE ON federation_mmerequestlog
    FOR EACH ROW EXECUTE FUNCTION federation_mmerequestlog_append_only();
CREATE INDEX federation_mmerequestlog_returned_gin
    ON federation_mmerequestlog USING gin (returned_case_ids jsonb_path_ops);
CREATE INDEX federation_mmerequestlog_payload_patient
    ON federation_mmerequestlog ((query_payload #> '{patient,id}'::text[]))
    WHERE query_payload IS NOT NULL;
"""

REVERSE = """
DROP INDEX IF EXISTS federation_mmerequestlog_payload_patient;
DROP INDEX IF EXISTS federation_mmerequestlog_returned_gin;
DROP TRIGGER IF EXISTS federation_mmerequestlog_append_only ON federation_mmerequestlog;
DROP FUNCTION IF EXISTS federation_mmerequestlog_append_only();
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("federation", "0002_searches_and_circuit_breaker"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(FUNCTION), _on_postgresql(REVERSE)),
    ]
