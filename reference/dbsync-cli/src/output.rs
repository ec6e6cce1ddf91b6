//! What a command prints: a sentence for a person, or with `--json` the
//! same report as JSON on stdout; a failure on stderr, as text or as the
//! error body of spec §17.1 (`{"protocol", "error": {code, message,
//! details}}`).

use crate::exit;
use dbsync_client::ClientError;
use dbsync_core::ErrorCode;
use serde_json::{json, Value};
use std::process::ExitCode;

/// How the command prints.
#[derive(Clone, Copy)]
pub struct Output {
    /// `--json` was given.
    pub json: bool,
}

impl Output {
    /// Prints a command's report, `text` for a person or `value` as JSON,
    /// and returns success.
    pub fn done(self, value: Value, text: impl FnOnce() -> String) -> ExitCode {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).expect("serializable")
            );
        } else {
            println!("{}", text());
        }
        ExitCode::SUCCESS
    }

    /// Prints `e` and returns its exit code.
    pub fn fail(self, e: &ClientError) -> ExitCode {
        if !self.json {
            return exit::report(e);
        }
        let details = match e {
            ClientError::Rejected {
                details: Some(d), ..
            } => Some(Value::Object(d.clone())),
            ClientError::UntrustedCertificate { url, .. }
            | ClientError::InvalidServerUrl { url, .. } => Some(json!({ "url": url })),
            ClientError::UniqueCollisions(c) => Some(json!({ "collisions": c })),
            _ => None,
        };
        print_error(e.code(), &e.to_string(), details);
        ExitCode::from(exit::of(e))
    }

    /// Prints a failure of the local database (exit 1; busy: exit 8).
    pub fn store_failure(self, e: dbsync_sqlite::StoreError) -> ExitCode {
        if e.is_busy() {
            return self.fail(&ClientError::DatabaseBusy);
        }
        if let dbsync_sqlite::StoreError::Refused(r) = &e {
            return self.table_refused(r);
        }
        self.local_failure(e)
    }

    /// Prints refused tables (exit 1): every one, each with what to change
    /// (`details.tables` names them).
    pub fn table_refused(self, r: &dbsync_sqlite::TableRefused) -> ExitCode {
        let tables: Vec<&str> = r.each().iter().map(|t| t.table()).collect();
        if self.json {
            print_error(
                ErrorCode::TableRefused,
                &r.to_string(),
                Some(serde_json::json!({ "tables": tables })),
            );
        } else {
            eprintln!("error [{}]: {r}", ErrorCode::TableRefused);
        }
        ExitCode::from(crate::exit::FAILURE)
    }

    /// Prints a failure of the local database or the server's store (exit 1).
    pub fn local_failure(self, what: impl std::fmt::Display) -> ExitCode {
        self.plain_failure(ErrorCode::InternalError, what, exit::FAILURE)
    }

    /// Prints a usage error found after parsing (exit 2).
    pub fn usage(self, what: impl std::fmt::Display) -> ExitCode {
        self.plain_failure(ErrorCode::InvalidConfiguration, what, exit::USAGE)
    }

    /// Prints a local failure with its own error code (`error [code]:`)
    /// and returns `exit`.
    pub fn coded_failure(
        self,
        code: ErrorCode,
        what: impl std::fmt::Display,
        exit: u8,
    ) -> ExitCode {
        if self.json {
            print_error(code, &what.to_string(), None);
        } else {
            eprintln!("error [{code}]: {what}");
        }
        ExitCode::from(exit)
    }

    fn plain_failure(self, code: ErrorCode, what: impl std::fmt::Display, exit: u8) -> ExitCode {
        if self.json {
            print_error(code, &what.to_string(), None);
        } else {
            eprintln!("error: {what}");
        }
        ExitCode::from(exit)
    }
}

/// The error body of spec §17.1, on one line of stderr.
fn print_error(code: ErrorCode, message: &str, details: Option<Value>) {
    let mut error = json!({ "code": code, "message": message });
    if let Some(d) = details {
        error["details"] = d;
    }
    eprintln!(
        "{}",
        json!({ "protocol": dbsync_core::PROTOCOL_VERSION, "error": error })
    );
}
