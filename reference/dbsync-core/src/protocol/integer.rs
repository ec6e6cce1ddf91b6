//! Spec §7.4.1: a member the schemas type `integer` (a version, a node
//! id, a row id, an order, a limit, a count) is any JSON number whose
//! value is a whole number, as JSON Schema's `integer` is: `1842923`,
//! `1842923.0` and `1.842923e6` are the same member. Every such member is
//! at most 2^53 − 1, where a binary64 holds each whole number exactly, so
//! reading a fraction or exponent form through `f64` loses nothing.
//!
//! Row *values* are not members: an `integer` column's value is still
//! written without fraction or exponent (§4.1.1), because in an `any`
//! column the form carries the kind (§4.1.5).
//!
//! Use with `#[serde(deserialize_with = "integer::…")]`.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// The largest whole number a fraction or exponent form may write:
/// 2^53 − 1, the largest the schemas allow (spec §7.4.1).
pub const MAX_MEMBER: u64 = (1 << 53) - 1;

/// Reads any JSON form of a whole number: plain integers in their full
/// 64-bit range (as before §7.4.1), fraction or exponent forms up to
/// ±(2^53 − 1).
struct Whole(&'static str);

impl Visitor<'_> for Whole {
    type Value = i128;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i128, E> {
        Ok(v.into())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i128, E> {
        Ok(v.into())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i128, E> {
        whole_f64(v)
            .map(i128::from)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
    }
}

/// The whole number a fraction or exponent form writes, if it is one
/// within ±(2^53 − 1).
pub(crate) fn whole_f64(v: f64) -> Option<i64> {
    let max = MAX_MEMBER as f64;
    if !(v.is_finite() && v.fract() == 0.0 && (-max..=max).contains(&v)) {
        return None;
    }
    // Exact: a whole binary64 within ±(2^53 − 1) converts without loss.
    Some(v as i64)
}

fn whole<'de, D, T>(d: D, expecting: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    let v = d.deserialize_any(Whole(expecting))?;
    T::try_from(v).map_err(|_| {
        de::Error::invalid_value(de::Unexpected::Other("a number out of range"), &expecting)
    })
}

/// A whole number from 0 to 2^64 − 1, in any of its JSON forms.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    whole(d, "a whole number, 0 or more")
}

/// A whole number from −2^63 to 2^63 − 1, in any of its JSON forms
/// (row ids).
pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    whole(d, "a whole number")
}

/// An optional [`u64()`]: `null` or a whole number.
pub fn option_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    optional(d, "null or a whole number, 0 or more")
}

/// An optional whole number from 0 to 2^32 − 1 (limits).
pub fn option_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    optional(d, "null or a whole number from 0 to 4294967295")
}

fn optional<'de, D, T>(d: D, expecting: &'static str) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    let v: Option<serde_json::Number> = serde::Deserialize::deserialize(d)?;
    let Some(n) = v else { return Ok(None) };
    whole(n, expecting).map(Some).map_err(de::Error::custom)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Member {
        #[serde(deserialize_with = "super::u64")]
        v: u64,
    }

    fn read(json: &str) -> Result<u64, String> {
        serde_json::from_str::<Member>(json)
            .map(|m| m.v)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_json_form_of_a_whole_number_is_that_member() {
        for form in [
            "1842923",
            "1842923.0",
            "1.842923e6",
            "1842923.000",
            "18429230e-1",
        ] {
            assert_eq!(read(&format!(r#"{{"v": {form}}}"#)), Ok(1842923), "{form}");
        }
        assert_eq!(read(r#"{"v": 9007199254740991.0}"#), Ok(super::MAX_MEMBER));
        // The plain form keeps its full range, as before.
        assert_eq!(read(r#"{"v": 18446744073709551615}"#), Ok(u64::MAX));
    }

    #[test]
    fn a_fraction_a_negative_a_string_or_a_fraction_form_beyond_2_pow_53_is_refused() {
        for form in ["1.5", "-1", "-1.0", "9007199254740992.0", "1e300", "\"7\""] {
            assert!(read(&format!(r#"{{"v": {form}}}"#)).is_err(), "{form}");
        }
    }
}
