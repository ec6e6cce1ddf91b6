//! The scope rules (spec §19.2) and their validation (§19.3): read from
//! the operator's JSON file, checked against the synced schema once, at
//! start.

use dbsync_core::{Schema, TableSchema};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;

/// Which rows of a table a node may read (spec §19.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadRule {
    /// Every row, every node.
    All,
    /// The rows whose `column` holds the node's user id.
    Owner {
        /// The column naming the owner.
        column: String,
    },
    /// The rows whose `column` holds one of the node's claims.
    Claim {
        /// The column naming the claim.
        column: String,
    },
    /// The rows whose parent (the row `column` references in `table`)
    /// is in the node's scope.
    Parent {
        /// The foreign-key column.
        column: String,
        /// The table it references.
        table: String,
    },
}

/// A table's rule: what a node reads, and whether it may write the rows
/// it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableScope {
    /// The rows a node reads.
    pub read: ReadRule,
    /// Whether a node may write the rows it reads (spec §19.7).
    pub write: bool,
}

/// Every synced table's rule, validated against the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes {
    tables: BTreeMap<String, TableScope>,
}

/// Why a scopes file cannot be served (spec §19.3). The text names the
/// table and column at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScopesError(pub String);

fn err<T>(why: String) -> Result<T, ScopesError> {
    Err(ScopesError(why))
}

impl Scopes {
    /// Reads and validates the rules in `text` (a scopes file) for
    /// `schema`.
    pub fn parse(text: &str, schema: &Schema) -> Result<Scopes, ScopesError> {
        let json: Json =
            serde_json::from_str(text).map_err(|e| ScopesError(format!("not JSON: {e}")))?;
        let Some(tables) = json.as_object().and_then(only_tables) else {
            return err("the file must be an object with one member, \"tables\", an object".into());
        };
        let mut out = BTreeMap::new();
        for (name, rule) in tables {
            let t = schema
                .table(name)
                .ok_or_else(|| ScopesError(format!("table {name:?} is not a synced table")))?;
            out.insert(name.clone(), table_rule(t, rule)?);
        }
        let scopes = Scopes { tables: out };
        scopes.check_complete(schema)?;
        scopes.check_parents(schema)?;
        scopes.check_closure(schema)?;
        Ok(scopes)
    }

    /// The rule of `table`, if it is a synced table.
    pub fn table(&self, table: &str) -> Option<&TableScope> {
        self.tables.get(table)
    }

    /// The tables whose rule is `parent` through a column of a table
    /// referencing `table`: `(child table, column)`.
    pub fn children_of<'a>(&'a self, table: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.tables
            .iter()
            .filter_map(move |(name, s)| match &s.read {
                ReadRule::Parent { column, table: p } if p == table => {
                    Some((name.as_str(), column.as_str()))
                }
                _ => None,
            })
    }

    /// Every synced table has a rule (§19.3).
    fn check_complete(&self, schema: &Schema) -> Result<(), ScopesError> {
        match schema
            .tables
            .iter()
            .find(|t| !self.tables.contains_key(&t.name))
        {
            Some(t) => err(format!(
                "table {:?} has no rule; give it one (\"read\": \"all\" lets every node read it)",
                t.name
            )),
            None => Ok(()),
        }
    }

    /// Parent rules end at an owner or `all` rule: no loop (§19.3).
    fn check_parents(&self, schema: &Schema) -> Result<(), ScopesError> {
        for t in &schema.tables {
            let mut at = t.name.as_str();
            for _ in 0..=self.tables.len() {
                match &self.tables[at].read {
                    ReadRule::Parent { table, .. } => at = table,
                    _ => break,
                }
            }
            if matches!(self.tables[at].read, ReadRule::Parent { .. }) {
                return err(format!(
                    "table {:?}: its parent rules loop back without reaching an owner, claim or \"all\" rule",
                    t.name
                ));
            }
        }
        Ok(())
    }

    /// Foreign-key closure (§19.3): a table's foreign keys other than its
    /// parent key reference `all` tables, and an `all` table references
    /// only `all` tables; so every row a node holds references only rows
    /// it may read.
    fn check_closure(&self, schema: &Schema) -> Result<(), ScopesError> {
        for t in &schema.tables {
            let rule = &self.tables[&t.name].read;
            for fk in &t.foreign_keys {
                let parent_key =
                    matches!(rule, ReadRule::Parent { column, .. } if *column == fk.column);
                let target_all = self
                    .tables
                    .get(&fk.references)
                    .is_some_and(|s| s.read == ReadRule::All);
                if !parent_key && !target_all {
                    return err(format!(
                        "table {:?}: foreign key {:?} references {:?}, whose rows some nodes holding {:?} rows may not read; \
                         make it the table's parent (\"read\": {{\"parent\": {:?}}}) or give {:?} \"read\": \"all\"",
                        t.name, fk.column, fk.references, t.name, fk.column, fk.references
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `{"tables": {...}}` and nothing else.
fn only_tables(o: &Map<String, Json>) -> Option<&Map<String, Json>> {
    if o.len() != 1 {
        return None;
    }
    o.get("tables")?.as_object()
}

/// One table's rule, its columns checked against `t`.
fn table_rule(t: &TableSchema, rule: &Json) -> Result<TableScope, ScopesError> {
    let name = &t.name;
    let Some(o) = rule.as_object() else {
        return err(format!(
            "table {name:?}: the rule must be an object with \"read\" (and optionally \"write\")"
        ));
    };
    if let Some(k) = o.keys().find(|k| *k != "read" && *k != "write") {
        return err(format!(
            "table {name:?}: unknown member {k:?} (a rule has \"read\" and \"write\")"
        ));
    }
    let read = match o.get("read") {
        Some(r) => read_rule(t, r)?,
        None => return err(format!("table {name:?}: the rule has no \"read\"")),
    };
    let write = match o.get("write") {
        None => read != ReadRule::All,
        Some(Json::Bool(b)) => *b,
        Some(_) => return err(format!("table {name:?}: \"write\" must be true or false")),
    };
    Ok(TableScope { read, write })
}

fn read_rule(t: &TableSchema, r: &Json) -> Result<ReadRule, ScopesError> {
    let name = &t.name;
    if r.as_str() == Some("all") {
        return Ok(ReadRule::All);
    }
    let one = r.as_object().filter(|o| o.len() == 1);
    let Some((kind, column)) = one.and_then(|o| o.iter().next()) else {
        return err(format!(
            "table {name:?}: \"read\" must be \"all\", {{\"owner\": COLUMN}}, {{\"claim\": COLUMN}} or {{\"parent\": COLUMN}}"
        ));
    };
    let Some(column) = column.as_str() else {
        return err(format!("table {name:?}: {kind:?} must name a column"));
    };
    match kind.as_str() {
        "owner" | "claim" => {
            if t.column(column).is_none() && t.primary_key != column {
                return err(format!("table {name:?} has no column {column:?} ({kind})"));
            }
            let column = column.to_string();
            Ok(if kind == "owner" {
                ReadRule::Owner { column }
            } else {
                ReadRule::Claim { column }
            })
        }
        "parent" => match t.foreign_keys.iter().find(|fk| fk.column == column) {
            Some(fk) if fk.references != t.name => Ok(ReadRule::Parent {
                column: column.into(),
                table: fk.references.clone(),
            }),
            Some(_) => err(format!(
                "table {name:?}: column {column:?} references the table itself; a parent must be another table"
            )),
            None => err(format!(
                "table {name:?}: column {column:?} is not a declared foreign key, so it cannot name a parent"
            )),
        },
        other => err(format!(
            "table {name:?}: unknown rule {other:?} (\"owner\", \"claim\" or \"parent\")"
        )),
    }
}
