//! A `dbsync serve` process on 127.0.0.1:0, for the CLI tests and the
//! sync benchmark: started with the given flags, its address read from
//! its first stdout line, killed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Serving {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, or `https://…` when serving HTTPS.
    pub url: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `bin serve --db DB --listen 127.0.0.1:0` with `flags` (`DB` a
/// SQLite path or a PostgreSQL URL); its stderr goes to `stderr`.
pub fn serve(bin: &str, db: &str, flags: &[&str], stderr: Stdio) -> Serving {
    let mut child = Command::new(bin)
        .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .env("DBSYNC_LOG", "warn")
        .spawn()
        .expect("dbsync serve starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .expect("the first line names the address")
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") || url.starts_with("https://127.0.0.1:"),
        "{url}"
    );
    Serving { child, url }
}
