"""the time of day of incidents: whether the file gave one, the end of a time range, the local hour
and weekday that the hour and weekday filters read

Existing rows are filled in from what the store holds: a row whose local time (in the setting
TIMEZONE) is not exactly 00:00 had a time in its file, so its time is known and its local hour is
that hour; a row at local midnight came from a date without a time (the importer made it local
midnight), so its time is unknown and its hour NULL (the few incidents really recorded at 00:00 are
counted as unknown: the store cannot tell them apart). The weekday comes from the local date.
No stored row has a time range.

Revision ID: 0011
Revises: 0010
"""
import pandas as pd
import sqlalchemy as sa
from alembic import op

from geo.periods import zone

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CHUNK = 50_000


def upgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.add_column(sa.Column("time_known", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("occurred_to", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("local_hour", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("local_weekday", sa.SmallInteger(), nullable=True))
    conn = op.get_bind()
    tz = str(zone())
    last = -1
    while True:
        rows = conn.execute(sa.text("SELECT id, occurred_at, local_date FROM incident WHERE id > :last "
                                    "ORDER BY id LIMIT :n"), {"last": last, "n": CHUNK}).all()
        if not rows:
            break
        df = pd.DataFrame(rows, columns=["id", "occurred_at", "local_date"])
        local = pd.to_datetime(df["occurred_at"].astype(str), utc=True, format="ISO8601").dt.tz_convert(tz)
        known = (local.dt.hour * 60 + local.dt.minute + local.dt.second) != 0
        weekday = pd.to_datetime(df["local_date"].astype(str).str[:10]).dt.day_of_week
        conn.execute(sa.text("UPDATE incident SET time_known = :k, local_hour = :h, local_weekday = :w "
                             "WHERE id = :id"),
                     [{"k": bool(k), "h": int(h) if k else None, "w": int(w), "id": int(i)}
                      for i, k, h, w in zip(df["id"], known, local.dt.hour, weekday)])
        last = int(df["id"].iloc[-1])


def downgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.drop_column("local_weekday")
        batch.drop_column("local_hour")
        batch.drop_column("occurred_to")
        batch.drop_column("time_known")
