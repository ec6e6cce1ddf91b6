//! The reference server, started in process on 127.0.0.1:0 over the
//! example application of spec §2.6, for `dbsync-conformance server
//! --reference` and the kit's own tests.
//!
//! Its hooks follow the kit's convention (see `conformance/README.md`):
//! the register and before-push hooks refuse a request whose `app_data`
//! has `"conformance_reject": true`.

use super::run::Target;
use dbsync_core::protocol::AppData;
use dbsync_core::protocol::{PushRequest, RegisterRequest};
use dbsync_server::{Config, Hooks, RegisterDecision, Server, ServerHandle};
use std::sync::Arc;

pub use dbsync_server::example::{tables as example_tables, APP_SQL as EXAMPLE_APP_SQL};

/// The registration token of the in-process server.
pub const TOKEN: &str = "conformance-kit-token";

fn asks_for_refusal(app_data: &Option<AppData>) -> bool {
    app_data
        .as_ref()
        .and_then(|a| a.get("conformance_reject"))
        .and_then(|v| v.as_bool())
        == Some(true)
}

/// A running reference server and what the runner needs to drive it.
pub struct Reference {
    pub handle: ServerHandle,
    pub target: Target,
    _dir: tempfile::TempDir,
}

impl Reference {
    /// Starts the server over a fresh database in a temporary folder.
    pub async fn start() -> Result<Reference, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let db = dir.path().join("server.db");
        {
            let conn = dbsync_sqlite::open(&db).map_err(|e| e.to_string())?;
            conn.execute_batch(EXAMPLE_APP_SQL)
                .map_err(|e| e.to_string())?;
        }
        let store = dbsync_sqlite::SqliteStore::open(&db, &example_tables(), Default::default())
            .map_err(|e| e.to_string())?;
        let mut config = Config::new();
        config.registration_token = Some(TOKEN.into());
        config.hooks = Hooks {
            register: Some(Arc::new(|r: &RegisterRequest| {
                if asks_for_refusal(&r.app_data) {
                    Err("the conformance kit asked for a refusal".into())
                } else {
                    Ok(RegisterDecision::default())
                }
            })),
            before_push: Some(Arc::new(|_node: u64, r: &PushRequest| {
                if asks_for_refusal(&r.app_data) {
                    Err("the conformance kit asked for a refusal".into())
                } else {
                    Ok(())
                }
            })),
            after_push: None,
        };
        let handle = Server::bind(Arc::new(store), config)
            .await
            .map_err(|e| e.to_string())?;
        let target = Target {
            base: format!("http://{}", handle.local_addr()),
            token: Some(TOKEN.into()),
            capabilities: ["hooks", "trim", "token_registration"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            control: Some(handle.server().clone()),
        };
        Ok(Reference {
            handle,
            target,
            _dir: dir,
        })
    }

    pub async fn stop(self) {
        self.handle.shutdown().await;
    }
}
