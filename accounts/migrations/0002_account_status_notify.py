"""``users.account_status`` is the platform's switch, written by this project (admin) and
by the rest of the platform alike. A trigger announces every change of it (or of
``is_active``, or a deleted user) with ``NOTIFY eldonia_account_status, '<user id>'``
when the writing transaction commits, whoever wrote it: the ingest's heartbeat fast path
(``streams/heartbeats.py``) revokes that streamer's leases, so the next heartbeat asks
the database and a suspended account's publisher is kicked at once."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION eldonia_account_status_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('eldonia_account_status', OLD.id::text);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('eldonia_account_status', NEW.id::text);
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS users_account_status_notify ON users;
CREATE TRIGGER users_account_status_notify
    AFTER UPDATE OF account_status, is_active ON users
    FOR EACH ROW
    WHEN (OLD.account_status IS DISTINCT FROM NEW.account_status
          OR OLD.is_active IS DISTINCT FROM NEW.is_active)
    EXECUTE FUNCTION eldonia_account_status_notify();
DROP TRIGGER IF EXISTS users_deleted_notify ON users;
CREATE TRIGGER users_deleted_notify
    AFTER DELETE ON users
    FOR EACH ROW
    EXECUTE FUNCTION eldonia_account_status_notify();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS users_deleted_notify ON users;
DROP TRIGGER IF EXISTS users_account_status_notify ON users;
DROP FUNCTION IF EXISTS eldonia_account_status_notify();
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
