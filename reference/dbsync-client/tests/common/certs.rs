//! Certificates made for a test: a certificate authority and a server
//! certificate it signs for 127.0.0.1 and localhost, written as PEM files.
//! Shared with the CLI tests.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::path::{Path, PathBuf};

/// A CA and a server certificate it signed, as PEM files in a folder.
#[allow(dead_code)]
pub struct TestPki {
    /// The CA's certificate (PEM).
    pub ca_cert: PathBuf,
    /// The server's certificate chain (PEM).
    pub server_cert: PathBuf,
    /// The server's private key (PEM, PKCS#8).
    pub server_key: PathBuf,
}

/// A CA named `name` and a certificate it signs for `hosts` (IP
/// addresses or DNS names), written under `dir` with `name` as prefix.
pub fn make_pki(dir: &Path, name: &str, hosts: &[&str]) -> TestPki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut leaf =
        CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>()).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, format!("{name} test server"));
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
    let write = |suffix: &str, text: String| {
        let path = dir.join(format!("{name}-{suffix}.pem"));
        std::fs::write(&path, text).unwrap();
        path
    };
    TestPki {
        ca_cert: write("ca", ca_cert.pem()),
        server_cert: write("cert", leaf_cert.pem()),
        server_key: write("key", leaf_key.serialize_pem()),
    }
}
