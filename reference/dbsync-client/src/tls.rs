//! TLS for `https://` servers: rustls on the ring provider, trusting the
//! platform's root certificates plus, optionally, one certificate
//! authority the node was given (a private CA, or a self-signed server).

use crate::error::ClientError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// A certificate authority the node trusts besides the platform's roots:
/// one or more PEM `CERTIFICATE` blocks. [`Node::register`] stores it with
/// the credentials, so later requests trust it too.
///
/// [`Node::register`]: crate::Node::register
#[derive(Clone, PartialEq, Eq)]
pub struct CaCert {
    pem: String,
    certs: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for CaCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CaCert({} certificate(s))", self.certs.len())
    }
}

impl CaCert {
    /// Reads PEM text: every `CERTIFICATE` block must be a certificate a
    /// root store accepts, and there must be at least one.
    pub fn from_pem(pem: &str) -> Result<CaCert, ClientError> {
        let bad = |why: String| ClientError::InvalidCaCert(why);
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(bad("no PEM CERTIFICATE block in it".into()));
        }
        let mut store = RootCertStore::empty();
        for (i, cert) in certs.iter().enumerate() {
            store
                .add(cert.clone())
                .map_err(|e| bad(format!("certificate {} is not usable: {e}", i + 1)))?;
        }
        Ok(CaCert {
            pem: pem.to_string(),
            certs,
        })
    }

    /// Reads a PEM file (see [`CaCert::from_pem`]).
    pub fn from_pem_file(path: &Path) -> Result<CaCert, ClientError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ClientError::InvalidCaCert(format!("cannot read {}: {e}", path.display()))
        })?;
        CaCert::from_pem(&text).map_err(|e| match e {
            ClientError::InvalidCaCert(why) => {
                ClientError::InvalidCaCert(format!("{}: {why}", path.display()))
            }
            other => other,
        })
    }

    /// The PEM text, as given.
    pub fn pem(&self) -> &str {
        &self.pem
    }
}

/// The platform's root certificates, read once per process.
fn platform_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!(error = %e, "a platform root certificate could not be loaded");
        }
        let mut store = RootCertStore::empty();
        let (added, ignored) = store.add_parsable_certificates(found.certs);
        tracing::debug!(added, ignored, "platform root certificates");
        store
    })
}

/// The rustls configuration of a client: for `https` the platform's roots
/// and `ca`; for plain `http` none (no TLS will be spoken).
pub(crate) fn client_config(https: bool, ca: Option<&CaCert>) -> rustls::ClientConfig {
    let mut roots = if https {
        platform_roots().clone()
    } else {
        RootCertStore::empty()
    };
    for cert in ca.map_or(&[][..], |c| &c.certs[..]) {
        // Checked by `CaCert::from_pem`.
        let _ = roots.add(cert.clone());
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The certificate problem behind a failed request, if that is what
/// failed: the server's certificate is not signed by a trusted root, does
/// not name the host, or has expired.
pub(crate) fn certificate_problem(
    e: &(dyn std::error::Error + 'static),
) -> Option<rustls::CertificateError> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(rustls::Error::InvalidCertificate(c)) = err.downcast_ref::<rustls::Error>() {
            return Some(c.clone());
        }
        // An I/O error wrapping another error reports that error's source
        // as its own, skipping the error itself: step into it instead.
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        for text in [
            "",
            "hello",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            let err = CaCert::from_pem(text).unwrap_err();
            assert!(matches!(err, ClientError::InvalidCaCert(_)), "{err:?}");
        }
    }

    #[test]
    fn a_certificate_block_that_is_not_a_certificate_is_refused() {
        let text = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = CaCert::from_pem(text).unwrap_err();
        assert!(err.to_string().contains("certificate 1"), "{err}");
    }

    #[test]
    fn a_certificate_error_is_found_inside_an_io_error() {
        // As tokio-rustls and hyper-rustls wrap it: twice.
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, tls));
        assert_eq!(
            certificate_problem(&io),
            Some(rustls::CertificateError::UnknownIssuer)
        );
        let other = std::io::Error::other("connection refused");
        assert_eq!(certificate_problem(&other), None);
    }
}
