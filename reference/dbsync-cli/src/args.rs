//! Arguments several commands share: the database (which must exist),
//! the node's server and its timeouts, the synced tables, and the
//! parsers of numbers of seconds and durations.

use clap::Args;
use dbsync_core::Direction;
use dbsync_sqlite::TableSpec;
use std::path::PathBuf;
use std::time::Duration;

/// A `--db` path that names an existing file: dbsync never creates the
/// application's database (a mistyped path would otherwise become an
/// empty database with nothing to sync).
pub fn existing_db(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    if path.is_file() {
        Ok(path)
    } else if path.exists() {
        Err(format!("{text} is not a file"))
    } else {
        Err(format!(
            "no database at {text}: check the path (dbsync does not create the application's database)"
        ))
    }
}

/// A command that reads or changes one node database.
#[derive(Args, Clone)]
pub struct DbArgs {
    /// The application's SQLite database (it must exist).
    #[arg(long, value_parser = existing_db)]
    pub db: PathBuf,
}

/// The node database a command works on.
#[derive(Args, Clone)]
pub struct NodeArgs {
    /// The application's SQLite database (it must exist).
    #[arg(long, value_parser = existing_db)]
    pub db: PathBuf,
    /// The server's base URL (overrides the one stored at registration).
    #[arg(long)]
    pub server: Option<String>,
    #[command(flatten)]
    pub timeouts: TimeoutArgs,
}

/// How long a request may take (a request that runs out of time fails
/// with exit code 5; retrying is safe).
#[derive(Args, Clone, Copy)]
pub struct TimeoutArgs {
    /// Seconds to open the connection [default: 10].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    pub connect_timeout: Option<Duration>,
    /// Seconds of silence while waiting for the server's answer [default: 30].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    pub read_timeout: Option<Duration>,
    /// Seconds for a whole request, answer included [default: 60].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    pub timeout: Option<Duration>,
}

impl TimeoutArgs {
    /// The client's timeouts: the defaults, with what was given.
    pub fn timeouts(self) -> dbsync_client::Timeouts {
        let d = dbsync_client::Timeouts::default();
        dbsync_client::Timeouts {
            connect: self.connect_timeout.unwrap_or(d.connect),
            read: self.read_timeout.unwrap_or(d.read),
            request: self.timeout.unwrap_or(d.request),
        }
    }
}

/// A positive number of seconds (fractions allowed), at most a day.
pub fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{text:?} is not a number of seconds above 0 and at most 86400"
        )),
    }
}

/// A duration: a number with a unit, `s`, `m`, `h` or `d` (`90s`, `12h`,
/// `30d`), or a bare number of seconds; above 0.
pub fn duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3_600.0,
        "d" => 86_400.0,
        _ => {
            return Err(format!(
                "{text:?}: the unit is s, m, h or d (30d, 12h, 90s)"
            ))
        }
    };
    match number.parse::<f64>() {
        Ok(n) if n > 0.0 && (n * scale) <= 3_650.0 * 86_400.0 => {
            Ok(Duration::from_secs_f64(n * scale))
        }
        _ => Err(format!(
            "{text:?} is not a duration above 0 and at most 3650d (30d, 12h, 90s)"
        )),
    }
}

/// Which tables to sync, each way.
#[derive(Args, Clone, Default)]
pub struct TableArgs {
    /// Tables to sync both ways (default: every user table not named by
    /// --push-only or --pull-only).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Tables nodes push but never pull.
    #[arg(long, value_delimiter = ',')]
    pub push_only: Vec<String>,
    /// Tables nodes pull but never write.
    #[arg(long, value_delimiter = ',')]
    pub pull_only: Vec<String>,
}

impl TableArgs {
    /// Whether only directions were named (--push-only or --pull-only
    /// without --tables): then every other user table syncs both ways, and
    /// [`TableArgs::specs`] needs the database's user tables.
    pub fn needs_user_tables(&self) -> bool {
        self.tables.is_empty() && !(self.push_only.is_empty() && self.pull_only.is_empty())
    }

    /// The table specs: an empty list (every user table, both ways) when
    /// nothing was named; without --tables, every one of `user_tables`
    /// not named by --push-only or --pull-only syncs both ways.
    pub fn specs(&self, user_tables: &[String]) -> Result<Vec<TableSpec>, String> {
        let named = self
            .tables
            .iter()
            .chain(&self.push_only)
            .chain(&self.pull_only);
        let mut seen = std::collections::BTreeSet::new();
        for name in named {
            if !seen.insert(name) {
                return Err(format!("table {name:?} is named twice"));
            }
        }
        let both = if self.needs_user_tables() {
            user_tables
                .iter()
                .filter(|t| !seen.contains(t))
                .cloned()
                .collect()
        } else {
            self.tables.clone()
        };
        let with = |names: &[String], direction| {
            names
                .iter()
                .map(move |n| TableSpec {
                    name: n.clone(),
                    direction,
                })
                .collect::<Vec<_>>()
        };
        let mut specs = with(&both, Direction::Both);
        specs.extend(with(&self.push_only, Direction::PushOnly));
        specs.extend(with(&self.pull_only, Direction::PullOnly));
        Ok(specs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_takes_seconds_minutes_hours_or_days() {
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(duration("30d"), Ok(Duration::from_secs(2_592_000)));
        assert_eq!(duration("2.5"), Ok(Duration::from_millis(2_500)));
        for bad in ["", "0s", "-1d", "soon", "3w", "d", "4000d"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn naming_only_directions_keeps_every_other_user_table_both_ways() {
        let args = TableArgs {
            push_only: vec!["visit".into()],
            ..TableArgs::default()
        };
        assert!(args.needs_user_tables());
        let users = ["city", "person", "visit"].map(String::from);
        let specs = args.specs(&users).unwrap();
        let got: Vec<_> = specs
            .iter()
            .map(|s| (s.name.as_str(), s.direction))
            .collect();
        assert_eq!(
            got,
            [
                ("city", Direction::Both),
                ("person", Direction::Both),
                ("visit", Direction::PushOnly)
            ]
        );
        assert!(TableArgs::default().specs(&users).unwrap().is_empty());
        let twice = TableArgs {
            tables: vec!["city".into()],
            pull_only: vec!["city".into()],
            ..TableArgs::default()
        };
        assert!(twice.specs(&users).is_err());
    }
}
