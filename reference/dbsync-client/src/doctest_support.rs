//! What this crate's doc examples share: the application they sync and
//! [`doc_example!`](crate::doc_example), which starts a real server and
//! real nodes for them. Not part of the API: it may change at any time.
//!
//! Every example runs for real: a `dbsync-server` on 127.0.0.1:0 over a
//! temporary SQLite file, and nodes whose databases `rusqlite` creates as
//! an application would, in a temporary folder removed at the end.

use std::path::Path;

/// The application the examples sync: two tables of an ordinary SQLite
/// app, keyed `INTEGER PRIMARY KEY AUTOINCREMENT` (spec §2.2), a person
/// referencing a city (spec §2.3.1), city names unique (spec §2.3.2).
pub const APP_SQL: &str = "
CREATE TABLE city (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  name    TEXT NOT NULL UNIQUE,
  founded DATE
);
CREATE TABLE person (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  name    TEXT NOT NULL,
  city_id INTEGER REFERENCES city(id)
);
";

/// The registration token of the examples' server.
pub const TOKEN: &str = "let-me-in";

/// Creates the application's tables in a new SQLite file at `path`, as the
/// application itself would.
pub fn make_app_db(path: &Path) -> rusqlite::Result<()> {
    rusqlite::Connection::open(path)?.execute_batch(APP_SQL)
}

/// Sets up a doc example inside an `async fn` that returns
/// `Result<_, Box<dyn std::error::Error>>`, binding the names it is given:
///
/// - `doc_example!(url, path)`: `url`, a running server's base URL (its
///   registration token is [`TOKEN`]); `path`, an application database
///   that is not tracked yet;
/// - `doc_example!(url; a, b)`: the server and one registered
///   [`Node`](crate::Node) per name, each over its own application database
///   that tracks every table.
///
/// The examples' server and temporary folder live until the end of the
/// enclosing block. The expansion names `::dbsync_server`, `::dbsync_sqlite`
/// and `::tempfile`, which only this crate's doc tests have.
#[doc(hidden)]
#[macro_export]
macro_rules! doc_example {
    ($url:ident $(, $path:ident)? $(; $($node:ident),+)?) => {
        let dir = ::tempfile::tempdir()?;
        let server = {
            let db = dir.path().join("server.db");
            $crate::doctest_support::make_app_db(&db)?;
            let store = ::dbsync_sqlite::SqliteStore::open(&db, &[], Default::default())?;
            let mut config = ::dbsync_server::Config::new();
            config.registration_token = Some($crate::doctest_support::TOKEN.to_string());
            ::dbsync_server::Server::bind(::std::sync::Arc::new(store), config).await?
        };
        let $url = format!("http://{}", server.local_addr());
        $(
            let $path = dir.path().join("app.db");
            $crate::doctest_support::make_app_db(&$path)?;
        )?
        $($(
            let $node = {
                let path = dir.path().join(concat!(stringify!($node), ".db"));
                $crate::doctest_support::make_app_db(&path)?;
                let node = $crate::Node::open(&path, &[])?;
                node.register(&$url, Some($crate::doctest_support::TOKEN)).await?;
                node
            };
        )+)?
    };
}
