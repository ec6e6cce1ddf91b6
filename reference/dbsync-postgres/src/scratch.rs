//! Throw-away databases for tests and examples: a fresh database on the
//! PostgreSQL server of `DBSYNC_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432`), dropped when the value is.

use std::sync::atomic::{AtomicU64, Ordering};
use tokio_postgres::NoTls;

/// The server tests use, from `DBSYNC_TEST_POSTGRES`.
pub fn server_url() -> String {
    std::env::var("DBSYNC_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// `url` without its database name.
fn without_database(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].find('/') {
        Some(i) => &url[..start + i],
        None => url,
    }
}

/// A database of its own, dropped (with its connections) on drop.
pub struct ScratchDb {
    name: String,
    server: String,
}

/// Runs `f` to completion on a runtime of its own, on a thread of its
/// own: callable from synchronous code and from inside another runtime
/// (an async test) alike.
fn blocking<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(f)
    })
    .join()
    .expect("the database thread does not panic")
}

async fn run_on(url: &str, sql: &str) -> Result<(), String> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("connecting to {url}: {e}"))?;
    let driver = tokio::spawn(conn);
    let out = client.batch_execute(sql).await.map_err(|e| {
        let detail = e.as_db_error().map(|d| d.message().to_string());
        format!("{e}: {}", detail.unwrap_or_default())
    });
    drop(client);
    let _ = driver.await;
    out
}

impl ScratchDb {
    /// Creates an empty database whose name starts with `prefix`.
    pub fn create(prefix: &str) -> Result<ScratchDb, String> {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let name = format!("{prefix}_{}_{stamp}_{n}", std::process::id());
        let server = without_database(&server_url()).to_string();
        let admin = format!("{server}/postgres");
        let create = format!("CREATE DATABASE \"{name}\"");
        blocking(async move { run_on(&admin, &create).await })?;
        Ok(ScratchDb { name, server })
    }

    /// Its connection URL.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// Runs `sql` (several statements allowed) in it.
    pub fn execute(&self, sql: &str) -> Result<(), String> {
        let (url, sql) = (self.url(), sql.to_string());
        blocking(async move { run_on(&url, &sql).await })
    }

    /// The rows `sql` answers, every value in PostgreSQL's text form.
    pub fn rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        let (url, sql) = (self.url(), sql.to_string());
        blocking(async move {
            let (client, conn) = tokio_postgres::connect(&url, NoTls)
                .await
                .map_err(|e| e.to_string())?;
            let driver = tokio::spawn(conn);
            let answer = client.simple_query(&sql).await.map_err(|e| e.to_string());
            drop(client);
            let _ = driver.await;
            Ok(answer?
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => {
                        Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                    }
                    _ => None,
                })
                .collect())
        })
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let admin = format!("{}/postgres", self.server);
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let _ = blocking(async move { run_on(&admin, &sql).await });
    }
}
