//! Progress bars for long pulls and repairs, shown only on a terminal.

use dbsync_client::{Procedure, Progress};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

/// A progress callback drawing a bar on stderr when stdout is a terminal;
/// `None` otherwise.
pub fn bar() -> Option<Arc<dyn Fn(Progress) + Send + Sync>> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let bar: Arc<Mutex<Option<ProgressBar>>> = Arc::new(Mutex::new(None));
    Some(Arc::new(move |p: Progress| {
        let mut slot = bar.lock().unwrap_or_else(|e| e.into_inner());
        let b = slot.get_or_insert_with(|| {
            let b = ProgressBar::new(p.total.unwrap_or(0));
            let unit = match p.procedure {
                Procedure::Push => "ops",
                Procedure::Pull => "versions",
                Procedure::Repair => "rows",
            };
            let style = if p.total.is_some() {
                format!(
                    "{{spinner}} {:?} [{{bar:30}}] {{pos}}/{{len}} {unit}",
                    p.procedure
                )
            } else {
                format!("{{spinner}} {:?} {{pos}} {unit}", p.procedure)
            };
            b.set_style(
                ProgressStyle::with_template(&style)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        if let Some(t) = p.total {
            b.set_length(t);
        }
        b.set_position(p.done);
        if p.total == Some(p.done) {
            b.finish_and_clear();
        }
    }))
}
