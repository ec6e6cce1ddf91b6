//! Versions (spec §6): the server's linear history, and sealing the
//! writes made directly on the server database into versions (§6.1).

use crate::scope::{record::record_version, Scopes};
use crate::store::{StoreResult, WriteTx};
use dbsync_core::Schema;

/// Seals the direct writes waiting in the store into version
/// `latest + 1` (spec §6.1), under the history lock the caller took, and
/// on a scoped server indexes it (§19.4); returns the latest version
/// afterwards.
pub fn seal_direct_writes(
    tx: &mut dyn WriteTx,
    schema: &Schema,
    scopes: Option<&Scopes>,
    now: u64,
) -> StoreResult<u64> {
    let latest = tx.latest_version()?;
    if !(tx.has_unsealed()? && tx.seal(latest + 1, &rfc3339(now))?) {
        return Ok(latest);
    }
    if let Some(scopes) = scopes {
        record_version(tx, schema, scopes, latest + 1)?;
    }
    Ok(latest + 1)
}

/// RFC 3339 UTC for a Unix time (`created_at`, spec §6.3).
pub fn rfc3339(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn unix_times_print_as_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_735_732_800), "2025-01-01T12:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
