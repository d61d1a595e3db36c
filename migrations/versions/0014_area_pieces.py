"""Units cut into small pieces for the PostGIS join (PostgreSQL only)

On PostgreSQL each unit is also stored as ``ST_Subdivide(geom, 255)``: one row per piece of at
most 255 vertices in ``area_piece`` (unit, version, code, geometry) with a GiST index. Testing a
point against a few small pieces is cheap where the detailed ward polygons (thousands of
vertices each) made the database's join slow. A boundary load writes the pieces of its units
(``geo.ingest.postgis.build_pieces``); they go with their unit (ON DELETE CASCADE). This
migration cuts the units already stored. SQLite has no PostGIS: nothing changes there.

Revision ID: 0014
Revises: 0013
"""
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE TABLE area_piece (
            area_id integer NOT NULL REFERENCES area (id) ON DELETE CASCADE,
            version_id integer NOT NULL,
            code varchar(32) NOT NULL,
            geom geometry(Geometry, 4326) NOT NULL
        )""")
    op.execute("INSERT INTO area_piece (area_id, version_id, code, geom) "
               "SELECT id, version_id, code, ST_Subdivide(geom, 255) FROM area")
    op.execute("CREATE INDEX ix_area_piece_geom ON area_piece USING gist (geom)")
    op.execute("CREATE INDEX ix_area_piece_area ON area_piece (area_id)")  # for the cascade on delete
    op.execute("ANALYZE area_piece")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE area_piece")
