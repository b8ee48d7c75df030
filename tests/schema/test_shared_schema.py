"""The migrated database keeps the seed's shared tables: names, columns, types,
defaults, nullability and CHECK constraints (SPEC §3)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction

HERE = Path(__file__).resolve().parent
COPY = HERE / "seed_tables.sql"
SEED = HERE.parents[2] / "shared" / "seed" / "000_acba63d0f49bd164.txt"

TYPE_MAP = [
    (r"BIGSERIAL", ("bigint", None, None)),
    (r"SERIAL", ("integer", None, None)),
    (r"BIGINT", ("bigint", None, None)),
    (r"INTEGER", ("integer", None, None)),
    (r"VARCHAR\((\d+)\)", ("character varying", "len", None)),
    (r"CHAR\((\d+)\)", ("character", "len", None)),
    (r"TEXT", ("text", None, None)),
    (r"DATE", ("date", None, None)),
    (r"BOOLEAN", ("boolean", None, None)),
    (r"TIMESTAMP WITH TIME ZONE", ("timestamp with time zone", None, None)),
    (r"DECIMAL\((\d+),(\d+)\)", ("numeric", "precision", "scale")),
    (r"JSONB", ("jsonb", None, None)),
]


def parse_seed_tables(sql: str) -> dict[str, dict[str, dict]]:
    tables: dict[str, dict[str, dict]] = {}
    for name, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\);", sql, re.S):
        columns: dict[str, dict] = {}
        for raw in body.splitlines():
            line = raw.split("--")[0].strip().rstrip(",")
            if not line or line.startswith(("CHECK", "UNIQUE(", "PRIMARY KEY", "FOREIGN")):
                continue
            col, rest = line.split(None, 1)
            for pattern, (data_type, a, b) in TYPE_MAP:
                m = re.match(pattern + r"(?![\w(])", rest)
                if m:
                    spec = {
                        "data_type": data_type,
                        "length": None,
                        "precision": None,
                        "scale": None,
                    }
                    if a == "len":
                        spec["length"] = int(m.group(1))
                    if a == "precision":
                        spec["precision"], spec["scale"] = int(m.group(1)), int(m.group(2))
                    break
            else:
                raise AssertionError(f"unknown type in seed: {name}.{col}: {rest}")
            spec["nullable"] = not ("NOT NULL" in rest or "PRIMARY KEY" in rest)
            spec["has_default"] = "DEFAULT" in rest or "SERIAL" in rest
            columns[col] = spec
        tables[name] = columns
    return tables


SEED_TABLES = parse_seed_tables(COPY.read_text(encoding="utf-8"))


def test_the_copy_names_all_eight_shared_tables():
    assert set(SEED_TABLES) == {
        "users",
        "live_streams",
        "stream_donations",
        "exp_actions",
        "user_exp_log",
        "achievements",
        "user_achievements",
        "transactions",
    }


@pytest.mark.skipif(not SEED.exists(), reason="shared/ is not beside this checkout")
def test_the_checked_in_copy_matches_the_seed_document():
    seed = SEED.read_text(encoding="utf-8")
    long_design = seed[seed.rindex("# Eldonia-Nex データベース設計書") :]
    for statement in re.findall(
        r"CREATE TABLE \w+ \(.*?\n\);", COPY.read_text(encoding="utf-8"), re.S
    ):
        assert statement in long_design


def _db_columns(table: str) -> dict[str, dict]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT column_name, data_type, character_maximum_length, numeric_precision,
                   numeric_scale, is_nullable, column_default, is_identity
            FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = %s
            """,
            [table],
        )
        return {
            row[0]: {
                "data_type": row[1],
                "length": row[2],
                "precision": row[3] if row[1] == "numeric" else None,
                "scale": row[4] if row[1] == "numeric" else None,
                "nullable": row[5] == "YES",
                "has_default": row[6] is not None or row[7] == "YES",
            }
            for row in cursor.fetchall()
        }


@pytest.mark.django_db
@pytest.mark.parametrize("table", sorted(SEED_TABLES))
def test_every_seed_column_exists_with_the_seed_type_default_and_nullability(table):
    actual = _db_columns(table)
    assert actual, f"table {table} is missing"
    for column, expected in SEED_TABLES[table].items():
        assert column in actual, f"{table}.{column} is missing"
        assert actual[column] == expected, f"{table}.{column}"


@pytest.mark.django_db
@pytest.mark.parametrize("table", sorted(SEED_TABLES))
def test_extra_columns_never_block_an_insert_that_names_only_seed_columns(table):
    actual = _db_columns(table)
    for column, spec in actual.items():
        if column not in SEED_TABLES[table]:
            assert spec["nullable"] or spec["has_default"], f"{table}.{column} needs a default"


@pytest.mark.django_db
def test_the_seed_exp_actions_rows_are_there():
    with connection.cursor() as cursor:
        cursor.execute("SELECT action_type, base_exp FROM exp_actions ORDER BY action_type")
        rows = dict(cursor.fetchall())
    assert rows == {
        "artwork_post": 100,
        "artwork_purchase": 50,
        "like_received": 10,
        "comment_post": 5,
        "sale_completed": 500,
        "stream_minute": 10,
        "event_created": 1000,
        "daily_login": 10,
    }


def _insert_user(cursor, suffix: str, **cols) -> int:
    names = ["username", "email", "password_hash", *cols]
    values = [f"u{suffix}", f"u{suffix}@example.com", "x", *cols.values()]
    cursor.execute(
        f"INSERT INTO users ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))}) RETURNING id",
        values,
    )
    return cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_row_inserted_with_only_seed_columns_gets_the_seed_defaults():
    with connection.cursor() as cursor:
        uid = _insert_user(cursor, "plain")
        cursor.execute(
            "SELECT total_exp, current_level, account_status, subscription_type, is_active,"
            " created_at IS NOT NULL FROM users WHERE id = %s",
            [uid],
        )
        assert cursor.fetchone() == (0, 1, "active", "free", True, True)
        cursor.execute(
            "INSERT INTO live_streams (streamer_id, title, stream_key) VALUES (%s, 't', 'k')"
            " RETURNING status, max_viewers, total_donations",
            [uid],
        )
        status, max_viewers, total = cursor.fetchone()
        assert (status, max_viewers, str(total)) == ("scheduled", 0, "0.00")


CHECK_VIOLATIONS = [
    ("users", "UPDATE users SET gender = 'X' WHERE id = %(uid)s"),
    ("users", "UPDATE users SET account_status = 'banned' WHERE id = %(uid)s"),
    ("users", "UPDATE users SET subscription_type = 'gold' WHERE id = %(uid)s"),
    (
        "live_streams",
        "INSERT INTO live_streams (streamer_id, title, stream_key, status) VALUES (%(uid)s, 't', 'k2', 'paused')",
    ),
    (
        "live_streams",
        "INSERT INTO live_streams (streamer_id, title, stream_key) VALUES (%(uid)s, 't', 'dup'),"
        " (%(uid)s, 't', 'dup')",
    ),
    (
        "stream_donations",
        "INSERT INTO stream_donations (stream_id, amount, payment_status) VALUES (%(sid)s, 1, 'lost')",
    ),
    (
        "achievements",
        "INSERT INTO achievements (name, condition_type, condition_value, rarity) VALUES ('a', 'count', 1, 'mythic')",
    ),
    (
        "transactions",
        "INSERT INTO transactions (user_id, transaction_type, amount, net_amount) VALUES (%(uid)s, 'gift', 1, 1)",
    ),
    (
        "transactions",
        "INSERT INTO transactions (user_id, transaction_type, amount, net_amount, status) VALUES (%(uid)s, 'sale', 1, 1, 'lost')",
    ),
    (
        "user_exp_log",
        "INSERT INTO user_exp_log (user_id, action_type, exp_gained) VALUES (%(uid)s, 'stream_minute', -5)",
    ),
    (
        "user_exp_log",
        "INSERT INTO user_exp_log (user_id, action_type, exp_gained) VALUES (%(uid)s, 'no_such_action', 5)",
    ),
    (
        "user_achievements",
        "INSERT INTO user_achievements (user_id, achievement_id) VALUES (%(uid)s, %(aid)s), (%(uid)s, %(aid)s)",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("table", "sql"),
    CHECK_VIOLATIONS,
    ids=[f"{t}-{i}" for i, (t, _) in enumerate(CHECK_VIOLATIONS)],
)
def test_the_database_rejects_what_the_seed_constraints_forbid(table, sql):
    with connection.cursor() as cursor:
        uid = _insert_user(cursor, "chk")
        cursor.execute(
            "INSERT INTO live_streams (streamer_id, title, stream_key) VALUES (%s, 't', 'k1') RETURNING id",
            [uid],
        )
        sid = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO achievements (name, condition_type, condition_value) VALUES ('a', 'count', 1) RETURNING id"
        )
        aid = cursor.fetchone()[0]
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # Django's FKs are deferred
        with pytest.raises(IntegrityError), transaction.atomic():
            cursor.execute(sql, {"uid": uid, "sid": sid, "aid": aid})
