//! TLS for the relay's listener: a certificate chain and its private key,
//! both PEM files, made into a rustls server configuration on the `ring`
//! provider (TLS 1.3 and 1.2, rustls's safe defaults; ALPN `http/1.1`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why the certificate or key cannot be used. The text names the file and
/// what is wrong with it, never any of its bytes.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file cannot be read or holds no certificate.
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key file cannot be read or holds no usable private key.
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The private key is not the one the (first) certificate is for.
    Mismatch,
    /// rustls refused the pair for another reason.
    Config(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate { path, reason } => {
                write!(f, "TLS certificate {}: {reason}", path.display())
            }
            Self::Key { path, reason } => write!(f, "TLS key {}: {reason}", path.display()),
            Self::Mismatch => f.write_str(
                "the TLS private key does not belong to the certificate (the first in its file)",
            ),
            Self::Config(reason) => write!(f, "TLS certificate and key refused: {reason}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// Loads `cert` (a PEM chain, the relay's own certificate first) and `key`
/// (a PEM private key: PKCS#8, PKCS#1 or SEC1) into a server configuration,
/// checking that the key belongs to the certificate.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certificate_error = |reason: String| TlsError::Certificate {
        path: cert.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|err| certificate_error(pem_reason(&err, "certificate")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| certificate_error(pem_reason(&err, "certificate")))?;
    if chain.is_empty() {
        return Err(certificate_error(
            "no PEM certificate in the file".to_owned(),
        ));
    }
    // A private key others may read is as good as published. (A missing
    // file is left to the PEM reader, which says it cannot read it.)
    if let Ok(metadata) = std::fs::metadata(key) {
        let mode = std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o7777;
        if mode & 0o077 != 0 {
            return Err(TlsError::Key {
                path: key.to_owned(),
                reason: format!(
                    "its mode is {mode:04o}: others than its owner may use it (chmod 600)"
                ),
            });
        }
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|err| TlsError::Key {
        path: key.to_owned(),
        reason: pem_reason(&err, "private key (PKCS#8, PKCS#1 or SEC1)"),
    })?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsError::Config(err.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|err| match err {
            rustls::Error::InconsistentKeys(_) => TlsError::Mismatch,
            other => TlsError::Config(other.to_string()),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What went wrong reading a PEM file, without quoting the file: a key
/// file's lines are secret.
fn pem_reason(err: &pem::Error, expected: &str) -> String {
    match err {
        pem::Error::Io(io) => format!("cannot read it: {io}"),
        pem::Error::NoItemsFound => format!("no PEM {expected} in the file"),
        _ => format!("not valid PEM {expected}"),
    }
}
