//! The exit codes of `dbsync`, documented in `--help`.

use dbsync_client::ClientError;
use std::process::ExitCode;

/// Success.
pub const OK: u8 = 0;
/// Any other failure (local database, configuration, protocol violation).
pub const FAILURE: u8 = 1;
/// Bad usage (clap's own code).
pub const USAGE: u8 = 2;
/// The server rejected the request (its code is printed).
pub const REJECTED: u8 = 3;
/// A pull found unique collisions that need the application's decision.
pub const UNIQUE_COLLISION: u8 = 4;
/// The server could not be reached.
pub const NETWORK: u8 = 5;
/// The database is not registered with a server.
pub const NOT_REGISTERED: u8 = 6;
/// The server's TLS certificate is not trusted.
pub const UNTRUSTED_CERTIFICATE: u8 = 7;
/// Another connection (the application) held the database's write lock for
/// longer than the busy timeout.
pub const DATABASE_BUSY: u8 = 8;

/// The text for `--help`.
pub const TABLE: &str = "Exit codes:
  0  success
  1  other failure (local database, configuration)
  2  usage error (also a malformed server URL, an unusable CA file, a missing --db file)
  3  rejected by the server (the error code is printed; after rate_limited, retrying
     after the seconds its details give is safe)
  4  unique collision: pulled rows take unique values local rows hold; settle each with
     `dbsync resolve` (the error prints the command), then pull again
  5  network unreachable: the server could not be reached (retrying is safe)
  6  not registered: run `dbsync register` first
  7  untrusted certificate: the https server's certificate is not signed by a trusted CA
     (give the CA with `dbsync register --ca-cert FILE`); retrying does not help
  8  database busy: another connection held the write lock for longer than --busy-timeout; nothing changed (retrying is safe)";

/// The exit code of a client failure.
pub fn of(e: &ClientError) -> u8 {
    match e {
        ClientError::Rejected { .. }
        | ClientError::SchemaMismatch { .. }
        | ClientError::TooManyRounds(_) => REJECTED,
        ClientError::UniqueCollisions(_) => UNIQUE_COLLISION,
        ClientError::Network(_) => NETWORK,
        ClientError::UntrustedCertificate { .. } => UNTRUSTED_CERTIFICATE,
        ClientError::InvalidServerUrl { .. } | ClientError::InvalidCaCert(_) => USAGE,
        ClientError::NotRegistered => NOT_REGISTERED,
        ClientError::DatabaseBusy => DATABASE_BUSY,
        _ => FAILURE,
    }
}

/// Prints `e` and returns its exit code.
pub fn report(e: &ClientError) -> ExitCode {
    eprintln!("error [{}]: {e}", e.code());
    if let ClientError::Rejected {
        details: Some(d), ..
    } = e
    {
        eprintln!("  details: {}", serde_json::Value::Object(d.clone()));
    }
    ExitCode::from(of(e))
}

#[allow(dead_code)]
pub const ALL: [u8; 9] = [
    OK,
    FAILURE,
    USAGE,
    REJECTED,
    UNIQUE_COLLISION,
    NETWORK,
    NOT_REGISTERED,
    UNTRUSTED_CERTIFICATE,
    DATABASE_BUSY,
];
