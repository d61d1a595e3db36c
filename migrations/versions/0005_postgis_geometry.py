"""PostGIS geometry column with a GiST index for the units (PostgreSQL only)

On PostgreSQL each unit also gets ``geom geometry(MultiPolygon, 4326)``, kept equal to its WKB by
a trigger, with a GiST index, so that the database can join incidents to units itself
(``ST_Intersects``/``ST_DWithin``). SQLite keeps the WKB only.

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("ALTER TABLE area ADD COLUMN geom geometry(MultiPolygon, 4326)")
    op.execute("UPDATE area SET geom = ST_Multi(ST_GeomFromWKB(geom_wkb, 4326))")
    op.execute("CREATE INDEX ix_area_geom ON area USING gist (geom)")
    op.execute("""
        CREATE FUNCTION area_geom_from_wkb() RETURNS trigger AS $$
        BEGIN
            NEW.geom := ST_Multi(ST_GeomFromWKB(NEW.geom_wkb, 4326));
            RETURN NEW;
        END $$ LANGUAGE plpgsql""")
    op.execute("CREATE TRIGGER area_geom BEFORE INSERT OR UPDATE OF geom_wkb ON area "
               "FOR EACH ROW EXECUTE FUNCTION area_geom_from_wkb()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER area_geom ON area")
    op.execute("DROP FUNCTION area_geom_from_wkb()")
    op.execute("DROP INDEX ix_area_geom")
    op.execute("ALTER TABLE area DROP COLUMN geom")
