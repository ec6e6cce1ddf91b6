-- The domains dbsync's PostgreSQL store maps to the time, datetime and
-- any column types (spec §2.5). Run once before creating tables that use
-- them: psql -f domains.sql. Running it again changes nothing.
DO $$ BEGIN
  CREATE DOMAIN dbsync_time AS text
    CHECK (VALUE ~ '^[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
  CREATE DOMAIN dbsync_datetime AS text
    CHECK (VALUE ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
-- A column of type any holds each value in its wire form (spec §4.1.5):
-- 12, 12.0, "twelve" or {"base64": "..."}, kept as text so that it comes
-- back exactly as it was given.
DO $$ BEGIN
  CREATE DOMAIN dbsync_any AS text;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
