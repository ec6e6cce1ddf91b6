-- The domains dbsync's PostgreSQL store maps to the time and datetime
-- column types (spec §2.5). Run once before creating tables that use
-- them: psql -f domains.sql. Running it again changes nothing.
DO $$ BEGIN
  CREATE DOMAIN dbsync_time AS text
    CHECK (VALUE ~ '^[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
  CREATE DOMAIN dbsync_datetime AS text
    CHECK (VALUE ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
