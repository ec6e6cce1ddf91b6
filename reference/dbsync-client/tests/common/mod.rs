//! A real server on 127.0.0.1:0 over real SQLite files, nodes with real
//! HTTP clients, and a TCP relay that can lose a response on purpose.

#![allow(dead_code)]

pub mod certs;

use dbsync_client::Node;
use dbsync_server::{Config, Server, ServerHandle};
use rusqlite::Connection;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const APP: &str = "
CREATE TABLE city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, founded DATE);
CREATE TABLE person (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
                     city_id INTEGER REFERENCES city(id), photo BLOB, height REAL);
";
pub const TOKEN: &str = "let-me-in";

pub fn make_db(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(APP).unwrap();
}

pub async fn start_server(dir: &Path) -> ServerHandle {
    let db = dir.join("server.db");
    make_db(&db);
    let mut config = Config::new();
    config.registration_token = Some(TOKEN.into());
    Server::bind(sqlite_store(&db), config).await.unwrap()
}

/// A SQLite store serving every table of `db`.
pub fn sqlite_store(db: &Path) -> std::sync::Arc<dyn dbsync_server::Store> {
    std::sync::Arc::new(dbsync_sqlite::SqliteStore::open(db, &[], Default::default()).unwrap())
}

pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

pub async fn node(dir: &Path, name: &str, server: &str) -> Node {
    let path = dir.join(format!("{name}.db"));
    make_db(&path);
    let node = Node::open(&path, &[]).unwrap();
    node.register(server, Some(TOKEN)).await.unwrap();
    node
}

pub fn db_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.db"))
}

/// Every row of the synced tables, as sorted text, for comparing replicas.
pub fn dump(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut out = Vec::new();
    for table in ["city", "person"] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY id"))
            .unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let vals: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect();
                Ok(format!("{table}: {}", vals.join(" | ")))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

pub fn count(path: &Path, sql: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// A TCP relay in front of the server. While `drop_responses` is above
/// zero, the relay forwards a request whose head contains `path` to the
/// server, lets the server answer, and then closes the client's
/// connection without passing the answer on: a lost response.
pub struct Relay {
    pub addr: SocketAddr,
    pub drop_responses: Arc<AtomicUsize>,
}

pub async fn relay(target: SocketAddr, path: &'static str) -> Relay {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let drop_responses = Arc::new(AtomicUsize::new(0));
    let drops = drop_responses.clone();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let drops = drops.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut client_rx, mut client_tx) = client.into_split();
                let (mut server_rx, mut server_tx) = server.into_split();
                let lose = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let lose_up = lose.clone();
                // Requests flow up unchanged; a request for `path` may mark
                // its answer to be lost.
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 1 << 16];
                    loop {
                        let n = match client_rx.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let chunk = String::from_utf8_lossy(&buf[..n]);
                        if chunk.contains(path)
                            && drops
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| {
                                    d.checked_sub(1)
                                })
                                .is_ok()
                        {
                            lose_up.store(true, Ordering::SeqCst);
                        }
                        if server_tx.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = match server_rx.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if lose.load(Ordering::SeqCst) {
                        break; // the server answered; the client never hears it
                    }
                    if client_tx.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    Relay {
        addr,
        drop_responses,
    }
}
