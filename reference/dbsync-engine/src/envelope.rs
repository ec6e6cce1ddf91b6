//! The message envelope (spec §7): reading a request body into its
//! message — the `protocol` member first (§7.1), then the whole message
//! through its serde type (which refuses unknown members) and the JSON
//! rules of §7.4, then the patterns and ranges of the JSON Schemas that
//! the types alone do not carry — and the schema agreement of §7.2.4.

use crate::Rejection;
use dbsync_core::protocol::{
    PullRequest, PushRequest, QueryRequest, RegisterRequest, RepairRequest,
};
use dbsync_core::validate::MAX_ROW_ID;
use dbsync_core::RowId;
use dbsync_core::{ErrorCode, Op, Row, PROTOCOL_VERSION};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

/// The members read as sent, before the typed parse: every other is
/// skipped. `app_data` is `Some(Value::Null)` for an explicit `null`
/// (serde would read it as absent).
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    protocol: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "as_sent")]
    app_data: Option<serde_json::Value>,
}

fn malformed(message: impl Into<String>) -> Rejection {
    Rejection::malformed(message)
}

fn at(pointer: String, message: String) -> Rejection {
    Rejection::malformed_at(pointer, message)
}

/// Spec §7.2.4: the node's fingerprint must be the server's.
pub fn same_schema(expected: &str, received: &str) -> Result<(), Rejection> {
    if received == expected {
        Ok(())
    } else {
        Err(Rejection::new(
            ErrorCode::SchemaMismatch,
            "the node's synced tables differ from the server's",
        )
        .with(json!({ "expected": expected, "received": received })))
    }
}

/// A number that is valid JSON but no column value: a real beyond
/// binary64 or an integer outside the signed 64-bit range (spec §4.1).
/// Named by row and column when it is a value of `rows` (§4.4.1).
fn out_of_range(e: &serde_json::Error, body: &[u8]) -> Option<Rejection> {
    let text = e.to_string();
    (text.contains("number out of range") || text.contains("64-bit signed range")).then(|| {
        let r = Rejection::new(
            ErrorCode::InvalidValue,
            format!("a number is outside the range of any column type: {text}"),
        );
        match row_of_number(body, e) {
            Some(details) => r.with(details),
            None => r,
        }
    })
}

/// `{table, row_id, column}` of the row value holding the number the
/// parse stopped at: the number is replaced by a marker string, the body
/// read again as plain JSON, and the marker looked up among the rows.
fn row_of_number(body: &[u8], e: &serde_json::Error) -> Option<serde_json::Value> {
    let line_start: usize = body
        .split(|b| *b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    let at = (line_start + e.column()).min(body.len());
    let numeric = |b: &u8| b.is_ascii_digit() || b"+-.eE".contains(b);
    let hit = (at.saturating_sub(2)..(at + 1).min(body.len())).find(|i| numeric(&body[*i]))?;
    let start = body[..hit]
        .iter()
        .rposition(|b| !numeric(b))
        .map_or(0, |i| i + 1);
    let end = body[hit..]
        .iter()
        .position(|b| !numeric(b))
        .map_or(body.len(), |i| hit + i);
    let marked = [
        &body[..start],
        &br#""\u0000dbsync-out-of-range""#[..],
        &body[end..],
    ]
    .concat();
    let doc: serde_json::Value = serde_json::from_slice(&marked).ok()?;
    let marker = serde_json::Value::String("\u{0}dbsync-out-of-range".into());
    doc.get("rows")?.as_array()?.iter().find_map(|row| {
        let (column, _) = row
            .get("values")?
            .as_object()?
            .iter()
            .find(|(_, v)| **v == marker)?;
        Some(json!({"table": row.get("table")?, "row_id": row.get("id")?, "column": column}))
    })
}

/// Checks the body is a JSON object whose `protocol` is `"1.0"` (spec §7.1).
pub fn check_protocol(body: &[u8]) -> Result<(), Rejection> {
    probe(body).map(drop)
}

/// Reads the probe and checks `protocol` (spec §7.1).
fn probe(body: &[u8]) -> Result<Probe, Rejection> {
    let probe: Probe = serde_json::from_slice(body).map_err(|e| {
        if let Some(r) = out_of_range(&e, body) {
            r
        } else if e.is_data() {
            malformed(format!("the body is not a JSON object: {e}"))
        } else {
            malformed(format!("the body is not JSON: {e}"))
        }
    })?;
    match &probe.protocol {
        Some(serde_json::Value::String(v)) if v == PROTOCOL_VERSION => Ok(probe),
        Some(serde_json::Value::String(v)) => Err(Rejection::new(
            ErrorCode::UnsupportedProtocol,
            format!("protocol {v} is not supported; this server speaks {PROTOCOL_VERSION}"),
        )
        .with(json!({ "supported": [PROTOCOL_VERSION] }))),
        Some(_) => Err(at("/protocol".into(), "protocol must be a string".into())),
        None => Err(malformed("the member protocol is missing")),
    }
}

/// A request message, as [`parse`] reads it.
pub trait Request: DeserializeOwned {
    /// Its `protocol` member.
    fn protocol(&self) -> &str;
}

macro_rules! requests {
    ($($t:ty),*) => {$(
        impl Request for $t {
            fn protocol(&self) -> &str {
                &self.protocol
            }
        }
    )*};
}
requests!(
    RegisterRequest,
    PushRequest,
    PullRequest,
    RepairRequest,
    QueryRequest
);

/// Reads a whole message in one pass when it is well formed: the typed
/// parse refuses unknown and repeated members (maps through
/// `dbsync_core::protocol::unique`), and `protocol` must then be `"1.0"`.
/// Any failure is explained by `diagnose`, which makes the checks in
/// the spec's order and says what is wrong where.
pub fn parse<T: Request>(body: &[u8]) -> Result<T, Rejection> {
    match serde_json::from_slice::<T>(body) {
        Ok(typed) if typed.protocol() == PROTOCOL_VERSION => Ok(typed),
        _ => diagnose(body),
    }
}

/// The checks of a message one by one: protocol first (§7.1), then
/// repeated members anywhere (§7.4), `app_data` (§7.3), and every member.
fn diagnose<T: DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
    let probe = probe(body)?;
    if let Some(pointer) = dbsync_core::protocol::json::first_duplicate_member(body) {
        return Err(at(
            pointer,
            "this member name appears twice in its object".into(),
        ));
    }
    // `app_data` may be absent, but when present it is an object.
    if probe.app_data.is_some_and(|v| !v.is_object()) {
        return Err(at("/app_data".into(), "app_data must be an object".into()));
    }
    serde_json::from_slice(body)
        .map_err(|e| out_of_range(&e, body).unwrap_or_else(|| malformed(e.to_string())))
}

/// The `token` member of a register body, skimmed without building the
/// rest of the message (spec §9.2, R1 before H6–H8): `Some(None)` when the
/// body is an object without a token; `None` when it is not an object
/// whose `token` is a string (the full parse then says what is wrong).
pub fn register_token(body: &[u8]) -> Option<Option<String>> {
    #[derive(serde::Deserialize)]
    struct Skim {
        token: Option<String>,
    }
    // serde reads a struct from an array too: only an object is skimmed.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return None;
    }
    serde_json::from_slice::<Skim>(body).ok().map(|s| s.token)
}

fn as_sent<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde::Deserialize::deserialize(d).map(Some)
}

/// `[A-Za-z_][A-Za-z0-9_]{0,62}` (spec §2.1).
pub fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn fingerprint(s: &str) -> Result<(), Rejection> {
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(at(
            "/schema".into(),
            "the schema fingerprint must be 64 lowercase hex digits".into(),
        ))
    }
}

fn version(v: u64, pointer: &str) -> Result<(), Rejection> {
    if v <= MAX_ROW_ID as u64 {
        Ok(())
    } else {
        Err(at(pointer.into(), format!("{v} is above 2^53 - 1")))
    }
}

fn table_name(name: &str, pointer: String) -> Result<(), Rejection> {
    if is_identifier(name) {
        Ok(())
    } else {
        Err(at(pointer, format!("{name:?} is not a table name")))
    }
}

/// An integer row id is 1 to 2^53 − 1; a text one was checked as it
/// was read (1 to 64 bytes); whether it is of its table's kind is
/// checked with the rows (spec §2.2).
fn row_id(id: RowId, pointer: String) -> Result<(), Rejection> {
    match id {
        RowId::Int(n) if !(1..=MAX_ROW_ID).contains(&n) => {
            Err(at(pointer, format!("row id {n} is outside 1..2^53-1")))
        }
        _ => Ok(()),
    }
}

fn ops(list: &[Op], name: &str) -> Result<(), Rejection> {
    for (i, op) in list.iter().enumerate() {
        table_name(&op.table, format!("/{name}/{i}/table"))?;
        row_id(op.row_id, format!("/{name}/{i}/row_id"))?;
    }
    Ok(())
}

fn rows(list: &[Row]) -> Result<(), Rejection> {
    for (i, row) in list.iter().enumerate() {
        table_name(&row.table, format!("/rows/{i}/table"))?;
        row_id(row.id, format!("/rows/{i}/id"))?;
        if let Some(bad) = row.values.keys().find(|k| !is_identifier(k)) {
            return Err(at(
                format!("/rows/{i}/values"),
                format!("{bad:?} is not a column name"),
            ));
        }
    }
    Ok(())
}

fn cursor(c: &Option<String>) -> Result<(), Rejection> {
    match c {
        Some(c) if c.is_empty() || c.chars().count() > 512 => Err(at(
            "/cursor".into(),
            "a cursor has 1 to 512 characters".into(),
        )),
        _ => Ok(()),
    }
}

/// The checks of `register-request.schema.json` beyond the serde type.
pub fn check_register(r: &RegisterRequest) -> Result<(), Rejection> {
    fingerprint(&r.schema)?;
    match &r.token {
        Some(t) if t.is_empty() || t.chars().count() > 256 => Err(at(
            "/token".into(),
            "a token has 1 to 256 characters".into(),
        )),
        _ => match &r.user {
            Some(u) if u.is_empty() || u.chars().count() > 256 => Err(at(
                "/user".into(),
                "a user id has 1 to 256 characters".into(),
            )),
            _ => Ok(()),
        },
    }
}

/// The checks of `push-request.schema.json` beyond the serde type.
pub fn check_push(r: &PushRequest) -> Result<(), Rejection> {
    fingerprint(&r.schema)?;
    let id_ok = (8..=64).contains(&r.push_id.len())
        && r.push_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !id_ok {
        return Err(at(
            "/push_id".into(),
            "a push id is 8 to 64 characters of A-Z a-z 0-9 _ -".into(),
        ));
    }
    version(r.base_version, "/base_version")?;
    ops(&r.ops, "ops")?;
    rows(&r.rows)
}

/// The checks of `pull-request.schema.json` beyond the serde type.
pub fn check_pull(r: &PullRequest) -> Result<(), Rejection> {
    fingerprint(&r.schema)?;
    version(r.base_version, "/base_version")?;
    ops(&r.pending, "pending")?;
    cursor(&r.cursor)
}

/// The checks of `repair-request.schema.json` beyond the serde type.
pub fn check_repair(r: &RepairRequest) -> Result<(), Rejection> {
    fingerprint(&r.schema)?;
    cursor(&r.cursor)
}

/// The checks of `query-request.schema.json` beyond the serde type.
pub fn check_query(r: &QueryRequest) -> Result<(), Rejection> {
    fingerprint(&r.schema)?;
    table_name(&r.table, "/table".into())?;
    if let Some(bad) = r.filter.keys().find(|k| !is_identifier(k)) {
        return Err(at("/where".into(), format!("{bad:?} is not a column name")));
    }
    match r.limit {
        Some(l) if !(1..=10_000).contains(&l) => {
            Err(at("/limit".into(), "a limit is 1 to 10000".into()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_object_has_its_register_token_skimmed() {
        assert_eq!(
            register_token(br#"{"token":"t","x":[1]}"#),
            Some(Some("t".into()))
        );
        assert_eq!(register_token(br#" {"protocol":"1.0"}"#), Some(None));
        assert_eq!(register_token(br#"["1.0"]"#), None);
        assert_eq!(register_token(br#"{"token":7}"#), None);
    }

    fn code(body: &str) -> ErrorCode {
        check_protocol(body.as_bytes()).unwrap_err().code
    }

    #[test]
    fn the_protocol_member_is_read_before_anything_else() {
        assert!(check_protocol(br#"{"protocol":"1.0","anything":[1,2]}"#).is_ok());
        assert_eq!(
            code(r#"{"protocol":"2.0","schema":7}"#),
            ErrorCode::UnsupportedProtocol
        );
        assert_eq!(code(r#"{"protocol":1.0}"#), ErrorCode::MalformedRequest);
        assert_eq!(code(r#"{"schema":"x"}"#), ErrorCode::MalformedRequest);
        assert_eq!(code(r#"[1,2]"#), ErrorCode::MalformedRequest);
        assert_eq!(code(r#"{"protocol":"1.0""#), ErrorCode::MalformedRequest);
        assert_eq!(code(""), ErrorCode::MalformedRequest);
    }

    #[test]
    fn a_number_beyond_every_column_type_names_its_row_and_column() {
        for number in ["9223372036854775808", "1e400", "-1.5e999"] {
            let body = format!(
                r#"{{"protocol":"1.0","schema":"{}","push_id":"p-12345678","base_version":1,
"ops":[{{"table":"person","row_id":5,"command":"i"}}],
"rows":[{{"table":"person","id":5,"values":{{"name":"Ana","km":{number},"x":1}}}}]}}"#,
                "a".repeat(64)
            );
            let err = parse::<PushRequest>(body.as_bytes()).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidValue, "{number}");
            assert_eq!(
                err.details.map(serde_json::Value::Object),
                Some(json!({"table": "person", "row_id": 5, "column": "km"})),
                "{number}"
            );
        }
    }

    #[test]
    fn unknown_members_and_schema_patterns_are_malformed_requests() {
        let fp = "a".repeat(64);
        let pull = format!(
            r#"{{"protocol":"1.0","schema":"{fp}","base_version":1,"since":0,"pending":[],"cursor":null}}"#
        );
        assert_eq!(
            parse::<PullRequest>(pull.as_bytes()).unwrap_err().code,
            ErrorCode::MalformedRequest
        );
        let upper = RepairRequest {
            protocol: "1.0".into(),
            schema: "A".repeat(64),
            app_data: None,
            cursor: None,
        };
        let err = check_repair(&upper).unwrap_err();
        assert_eq!(err.details.unwrap()["pointer"], "/schema");
        assert!(
            is_identifier("_a9")
                && !is_identifier("9a")
                && !is_identifier("")
                && !is_identifier(&"a".repeat(64))
        );
    }
}
