//! The example application of spec §2.6 (cities, people, holidays the
//! server publishes, visits nodes log), as its SQL creates it: the tables
//! the conformance kit's wire vectors and the fuzz targets run against.

use dbsync_core::Direction;
use dbsync_core::TableSpec;

/// The example application's tables, as spec §2.6 creates them.
pub const APP_SQL: &str = "
CREATE TABLE city (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  name    TEXT NOT NULL UNIQUE,
  founded DATE
);
CREATE TABLE person (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  name    TEXT NOT NULL,
  city_id INTEGER REFERENCES city(id) DEFERRABLE INITIALLY DEFERRED,
  photo   BLOB
);
CREATE TABLE holiday (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  day       DATE NOT NULL UNIQUE,
  name      TEXT NOT NULL,
  closes_at TIME
);
CREATE TABLE visit (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  person_id INTEGER NOT NULL REFERENCES person(id) DEFERRABLE INITIALLY DEFERRED,
  at        DATETIME NOT NULL,
  km        REAL
);
";

/// The example application's tables with their directions (spec §2.6).
pub fn tables() -> Vec<TableSpec> {
    let spec = |name: &str, direction| TableSpec {
        name: name.into(),
        direction,
    };
    vec![
        spec("city", Direction::Both),
        spec("person", Direction::Both),
        spec("holiday", Direction::PullOnly),
        spec("visit", Direction::PushOnly),
    ]
}
