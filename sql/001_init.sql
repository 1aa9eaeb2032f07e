-- gridlib store schema, version 1.
-- gridlib_meta holds bookkeeping; layers live as tables in the data schema (default "gridlib").
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA IF NOT EXISTS gridlib_meta;
CREATE SCHEMA IF NOT EXISTS gridlib;

CREATE TABLE IF NOT EXISTS gridlib_meta.schema_migrations (
    version     text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per layer: how to rebuild the exact pandas dtypes and the geometry column.
CREATE TABLE IF NOT EXISTS gridlib_meta.layers (
    schema_name      text NOT NULL,
    layer_name       text NOT NULL,
    geometry_column  text,
    geometry_type    text,
    srid             integer,
    columns          jsonb NOT NULL,
    row_count        bigint NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, layer_name)
);
