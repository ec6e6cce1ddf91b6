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

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The fenced blocks of `text` whose opening fence is exactly `fence`
    /// (```` ```rust ````, ```` ``` ````), each without its fences.
    fn blocks(text: &str, fence: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut open: Option<String> = None;
        for line in text.lines() {
            match &mut open {
                None if line == fence => open = Some(String::new()),
                None => {}
                Some(_) if line == "```" => out.extend(open.take()),
                Some(block) => {
                    block.push_str(line);
                    block.push('\n');
                }
            }
        }
        out
    }

    /// The lines of a doc example a reader sees (hidden `# ` lines left out).
    fn visible(code: &str) -> String {
        code.lines()
            .filter(|l| !l.starts_with("# "))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn every_rust_block_of_the_embedding_guide_is_the_code_of_a_doc_example_or_a_test() {
        let krate = Path::new(env!("CARGO_MANIFEST_DIR"));
        let guide = read(&krate.join("../../docs/embedding.md"));
        let mut sources = Vec::new();
        for entry in std::fs::read_dir(krate.join("doc")).unwrap() {
            for code in blocks(&read(&entry.unwrap().path()), "```") {
                sources.push(visible(&code));
            }
        }
        let lib: String = read(&krate.join("src/lib.rs"))
            .lines()
            .filter_map(|l| l.strip_prefix("//! ").or((l == "//!").then_some("")))
            .map(|l| format!("{l}\n"))
            .collect();
        sources.extend(blocks(&lib, "```").iter().map(|c| visible(c)));
        sources.push(read(&krate.join("tests/https.rs")));
        let found = blocks(&guide, "```rust");
        assert!(found.len() >= 7, "{} Rust blocks in the guide", found.len());
        for block in found {
            let indented = |src: &String| block.lines().all(|l| src.contains(l.trim()));
            assert!(
                sources.iter().any(|s| s.contains(&block) || indented(s)),
                "this block of docs/embedding.md is no doc example's or test's code:\n{block}"
            );
        }
    }

    #[test]
    fn the_guides_sql_block_is_the_application_the_examples_sync() {
        let krate = Path::new(env!("CARGO_MANIFEST_DIR"));
        let guide = read(&krate.join("../../docs/embedding.md"));
        assert_eq!(blocks(&guide, "```sql"), [super::APP_SQL.trim_start()]);
    }
}
