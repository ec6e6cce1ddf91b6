//! HTTPS: the certificate chain and private key the server presents (PEM
//! files named by [`Config::tls_cert`] and [`Config::tls_key`]), and the
//! TLS handshake of each connection before HTTP is served on it. rustls
//! on the ring provider; TLS 1.2 and 1.3; HTTP/1.1 by ALPN.

use crate::config::Config;
use crate::ServerError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

fn config_error(what: &str, path: &Path, why: impl std::fmt::Display) -> ServerError {
    ServerError::Config(format!("{what} {}: {why}", path.display()))
}

/// The certificate chain of a PEM file: the server's certificate first.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| config_error("TLS certificate file", path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_error("TLS certificate file", path, e))?;
    if certs.is_empty() {
        return Err(config_error(
            "TLS certificate file",
            path,
            "no PEM CERTIFICATE block in it",
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, ServerError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| config_error("TLS key file", path, e))
}

/// The acceptor for the configured certificate and key; `None` when the
/// server speaks plain HTTP. Both files or neither must be given.
pub(crate) fn acceptor(config: &Config) -> Result<Option<TlsAcceptor>, ServerError> {
    let (cert, key) = match (&config.tls_cert, &config.tls_key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            return Err(ServerError::Config(
                "HTTPS needs both a certificate (tls_cert) and its private key (tls_key)".into(),
            ))
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certificates(cert)?, private_key(key)?)
        .map_err(|e| {
            ServerError::Config(format!(
                "TLS: the key {} does not fit the certificate {}: {e}",
                key.display(),
                cert.display()
            ))
        })?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(tls))))
}

/// Runs the TLS handshake of an accepted connection, within `timeout`
/// (the header read timeout: a client that never finishes the handshake
/// holds nothing for longer) and until the server shuts down (`closed`
/// changes). `None` when it failed; the reason is logged.
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    timeout: Duration,
    mut closed: tokio::sync::watch::Receiver<()>,
) -> Option<TlsStream<TcpStream>> {
    let peer = stream.peer_addr().ok();
    let why = tokio::select! {
        done = tokio::time::timeout(timeout, acceptor.accept(stream)) => match done {
            Ok(Ok(tls)) => return Some(tls),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("not finished within {} s", timeout.as_secs_f64()),
        },
        _ = closed.changed() => "the server is shutting down".to_string(),
    };
    tracing::debug!(?peer, %why, "TLS handshake failed");
    None
}
