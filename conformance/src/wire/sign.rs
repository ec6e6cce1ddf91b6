//! Request signing (spec §8.3), written from the spec so that the kit does
//! not take the reference's word for it.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The MAC key: the secret's base64url text (no padding) decoded.
pub fn key(secret: &str) -> Option<Vec<u8>> {
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(secret.as_bytes())
        .ok()?;
    (key.len() == 32).then_some(key)
}

/// The signed string of spec §8.3: seven lines, no final line feed.
pub fn signed_string(
    method: &str,
    path: &str,
    node: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    [
        "dbsync-v1",
        method,
        path,
        node,
        timestamp,
        nonce,
        &hex(&Sha256::digest(body)),
    ]
    .join("\n")
}

/// `Dbsync-Signature`: HMAC-SHA256 of the signed string, lowercase hex.
pub fn signature(key: &[u8], signed: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(signed.as_bytes());
    hex(&mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worked_example_of_section_8_5_signs_to_its_mac() {
        let key = key("WeFOT0W6f9zLUR5Ugq3p685bndLnC-aA234oIyciWvo").unwrap();
        assert_eq!(
            hex(&key),
            "59e14e4f45ba7fdccb511e5482ade9ebce5b9dd2e70be680db7e282327225afa"
        );
        let body = br#"{"protocol":"1.0","schema":"f2636ea39a758ee320018da4ef07676d01d92a74c06f2e72edf6b5443532a959","base_version":41,"pending":[{"table":"person","row_id":12,"command":"u"}],"cursor":null}"#;
        assert_eq!(body.len(), 183);
        let s = signed_string(
            "POST",
            "/v1/pull",
            "7",
            "1735732800",
            "n7Qx4LmZ2pWv9kTa",
            body,
        );
        assert!(s.ends_with("25df408eca69087d66ba74aa9ccd989c3c35d2daa77fd04a34c850de5fbed91b"));
        assert_eq!(
            signature(&key, &s),
            "c918c258f961be2c0798585df814c096f66610fd710860eeb17a8b4e80d2cbb3"
        );
    }
}
