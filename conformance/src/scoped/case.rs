//! A scoped history: users, nodes registered for them, the rows the
//! server starts with, and the steps taken (offline edits inside a
//! node's scope, direct writes on the server, syncs and pulls). Plain
//! data, so that a shrunk failure prints as JSON and replays.

use serde::{Deserialize, Serialize};

/// The application's tables, on the server and on every node. `tag` is
/// shared and read-only, a `list` belongs to its `owner`, an `item` to
/// its list's owner, a `note` to its item's list's owner (two levels of
/// inherited scope).
pub const APP_SQL: &str = "
CREATE TABLE tag (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
CREATE TABLE list (id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL,
                   title TEXT NOT NULL, tag_id INTEGER REFERENCES tag(id));
CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT,
                   list_id INTEGER NOT NULL REFERENCES list(id), text TEXT NOT NULL);
CREATE TABLE note (id INTEGER PRIMARY KEY AUTOINCREMENT,
                   item_id INTEGER NOT NULL REFERENCES item(id), body TEXT NOT NULL);
";

/// The server's scope rules (spec §19.2).
pub const RULES: &str = r#"{"tables": {
  "tag": {"read": "all", "write": false},
  "list": {"read": {"owner": "owner"}},
  "item": {"read": {"parent": "list_id"}},
  "note": {"read": {"parent": "item_id"}}
}}"#;

/// The registration token of the server.
pub const TOKEN: &str = "scoped-harness";

/// The name of user number `i` of a case.
pub fn user_name(i: u8) -> String {
    const NAMES: [&str; 3] = ["alice", "bob", "carol"];
    NAMES
        .get(usize::from(i))
        .map_or_else(|| format!("user{i}"), |n| n.to_string())
}

/// A list the server holds before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedList {
    /// Its owner (a user index, modulo the case's users).
    pub owner: u8,
    /// Its tag (an index among the tags, modulo their number), or none.
    pub tag: Option<u8>,
    /// Its items: how many notes each has.
    pub items: Vec<u8>,
}

/// An offline edit by the application on a node, always inside what the
/// node holds. Rows are picked by position among the node's rows of the
/// table in id order (modulo their number); an edit with no row to pick
/// does nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edit {
    /// A list owned by the node's user, tagged with one of the tags it
    /// holds or none.
    InsertList { tag: Option<u16> },
    /// An item in a list the node holds.
    InsertItem { list: u16 },
    /// A note on an item the node holds.
    InsertNote { item: u16 },
    /// A list's title.
    UpdateList { list: u16 },
    /// An item's text.
    UpdateItem { item: u16 },
    /// A note's body.
    UpdateNote { note: u16 },
    /// An item, with its notes.
    DeleteItem { item: u16 },
}

/// A write made directly on the server's database while it runs (spec
/// §6.1). Rows are picked by position among all the server's rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerWrite {
    /// Gives a list to another user (`to`, modulo the users; the next
    /// one when it is the owner already).
    MoveList { list: u16, to: u8 },
    /// A new list for a user, with items (how many notes each has).
    InsertList { owner: u8, items: Vec<u8> },
    /// An item's text.
    UpdateItem { item: u16 },
    /// An item, with its notes.
    DeleteItem { item: u16 },
}

/// One step of a history. Node numbers are taken modulo the nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Edit { node: u8, edit: Edit },
    Server(ServerWrite),
    Sync { node: u8 },
    Pull { node: u8 },
}

/// A whole scoped history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// How many users (2 or 3).
    pub users: u8,
    /// The user of each node (a user index, modulo `users`); two nodes
    /// may share one.
    pub nodes: Vec<u8>,
    /// How many tags the server starts with.
    pub tags: u8,
    /// The lists (with items and notes) the server starts with.
    pub lists: Vec<SeedList>,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

impl Case {
    /// The user index of node `n`.
    pub fn user_of(&self, n: usize) -> u8 {
        self.nodes[n] % self.users.max(1)
    }
}
