//! TLS through the binary: with a certificate and key it serves TLS (and a
//! plain-HTTP request to it gets no answer); an unreadable or mismatched
//! pair, or plain HTTP on a non-loopback address, is refused at start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use common::*;
use fuin_wire::relay::{AuthChallenge, ChallengeRequest};
use fuin_wire::*;
use rustls::pki_types::{CertificateDer, ServerName};

/// A self-signed certificate for `localhost`, written as PEM files.
struct TestCertificate {
    der: CertificateDer<'static>,
    cert: PathBuf,
    key: PathBuf,
}

fn certificate(dir: &Path, name: &str) -> TestCertificate {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    TestCertificate {
        der: generated.cert.der().clone(),
        cert,
        key,
    }
}

/// A client that trusts `trusted` only.
fn client_config(trusted: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// One HTTP exchange over TLS to `address`, verifying the server as `localhost`.
fn tls_request(
    config: &Arc<rustls::ClientConfig>,
    address: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let connection =
        rustls::ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let stream = rustls::StreamOwned::new(connection, TcpStream::connect(address)?);
    request_on(stream, address, method, path, None, body)
}

/// The body of `POST /v1/accounts` for `user` with one device.
fn registration(user: &str) -> Vec<u8> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let list = lists::signed_list(
        &lists::account_key(1),
        user,
        1,
        &[(1, lists::identity(&key, 1))],
    );
    lists::registration(&list, None)
}

fn tls_args<'a>(data: &'a Path, cert: &'a Path, key: &'a Path) -> Vec<&'a OsStr> {
    vec![
        OsStr::new("--data"),
        data.as_os_str(),
        OsStr::new("--tls-cert"),
        cert.as_os_str(),
        OsStr::new("--tls-key"),
        key.as_os_str(),
    ]
}

#[test]
fn with_a_certificate_the_relay_serves_tls_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let cert = certificate(dir.path(), "relay");
    let relay = RelayProcess::start_with(&tls_args(&data, &cert.cert, &cert.key));
    let client = client_config(&cert.der);

    let (status, _) = tls_request(
        &client,
        &relay.address,
        "POST",
        "/v1/accounts",
        &registration("alice"),
    )
    .unwrap();
    assert_eq!(status, 201);
    let challenge_request = ChallengeRequest {
        address: DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(1)),
    };
    let (status, body) = tls_request(
        &client,
        &relay.address,
        "POST",
        "/v1/auth/challenge",
        &challenge_request.to_bytes().unwrap(),
    )
    .unwrap();
    assert_eq!(status, 200);
    let challenge = AuthChallenge::from_bytes(&body).unwrap();
    assert_ne!(challenge.nonce.0, [0; 32]);

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = request(
        &relay.address,
        "POST",
        "/v1/accounts",
        None,
        &registration("bob"),
    );
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");

    // A client that trusts another certificate refuses the relay's.
    let other = certificate(dir.path(), "other");
    let refused = tls_request(
        &client_config(&other.der),
        &relay.address,
        "POST",
        "/v1/accounts",
        &registration("carol"),
    );
    assert!(refused.is_err(), "an untrusted certificate was accepted");

    // Neither bob nor carol got an account; the relay still answers over TLS.
    let (status, body) = tls_request(
        &client,
        &relay.address,
        "POST",
        "/v1/accounts",
        &registration("alice"),
    )
    .unwrap();
    assert_eq!(
        (status, error_code(&body).as_str()),
        (409, "account_exists")
    );
    for user in ["bob", "carol"] {
        let (status, _) = tls_request(
            &client,
            &relay.address,
            "POST",
            "/v1/accounts",
            &registration(user),
        )
        .unwrap();
        assert_eq!(status, 201, "{user}");
    }
    let exit = relay.stop("TERM");
    assert!(exit.success(), "relay exited with {exit}");
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let one = certificate(dir.path(), "one");
    let two = certificate(dir.path(), "two");
    let stderr = refused_start(&tls_args(&data, &one.cert, &two.key), "127.0.0.1:0");
    assert!(
        stderr.contains("does not belong to the certificate"),
        "stderr: {stderr}"
    );
    // The key's PEM text is not repeated back.
    let key_pem = std::fs::read_to_string(&two.key).unwrap();
    let body_line = key_pem.lines().nth(1).unwrap();
    assert!(!stderr.contains(body_line));
}

#[test]
fn unreadable_or_empty_certificate_and_key_files_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let good = certificate(dir.path(), "good");
    let missing = dir.path().join("missing.pem");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, b"this is not PEM\n").unwrap();

    let stderr = refused_start(&tls_args(&data, &missing, &good.key), "127.0.0.1:0");
    assert!(
        stderr.contains("TLS certificate") && stderr.contains("cannot read"),
        "stderr: {stderr}"
    );
    let stderr = refused_start(&tls_args(&data, &not_pem, &good.key), "127.0.0.1:0");
    assert!(
        stderr.contains("TLS certificate") && stderr.contains("no PEM certificate"),
        "stderr: {stderr}"
    );
    let stderr = refused_start(&tls_args(&data, &good.cert, &missing), "127.0.0.1:0");
    assert!(
        stderr.contains("TLS key") && stderr.contains("cannot read"),
        "stderr: {stderr}"
    );
    // A key file others may read.
    std::fs::set_permissions(&good.key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let stderr = refused_start(&tls_args(&data, &good.cert, &good.key), "127.0.0.1:0");
    assert!(
        stderr.contains("TLS key") && stderr.contains("0640") && stderr.contains("chmod 600"),
        "stderr: {stderr}"
    );
    // A certificate given as the key (kept private): no private key in it.
    let cert_as_key = dir.path().join("cert-as-key.pem");
    std::fs::copy(&good.cert, &cert_as_key).unwrap();
    std::fs::set_permissions(&cert_as_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let stderr = refused_start(&tls_args(&data, &good.cert, &cert_as_key), "127.0.0.1:0");
    assert!(
        stderr.contains("TLS key") && stderr.contains("no PEM private key"),
        "stderr: {stderr}"
    );
    // One without the other is a usage error.
    let stderr = refused_start(
        &[
            OsStr::new("--data"),
            data.as_os_str(),
            OsStr::new("--tls-cert"),
            good.cert.as_os_str(),
        ],
        "127.0.0.1:0",
    );
    assert!(stderr.contains("--tls-key"), "stderr: {stderr}");
    assert!(!data.exists(), "a refused start created the database");
}

#[test]
fn plain_http_is_served_on_loopback_only_unless_insisted_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let args = [OsStr::new("--data"), data.as_os_str()];
    let stderr = refused_start(&args, "0.0.0.0:0");
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("--insecure-plain-http"),
        "stderr: {stderr}"
    );

    // With the flag it starts, on every address (here reached on loopback).
    let relay = RelayProcess::spawn(
        &[
            OsStr::new("--data"),
            data.as_os_str(),
            OsStr::new("--insecure-plain-http"),
        ],
        "0.0.0.0:0",
        Stdio::inherit(),
    );
    let port = relay.address.rsplit(':').next().unwrap().to_owned();
    let (status, _) = request(
        &format!("127.0.0.1:{port}"),
        "POST",
        "/v1/accounts",
        None,
        &registration("alice"),
    )
    .unwrap();
    assert_eq!(status, 201);
    assert!(relay.stop("TERM").success());

    // With TLS, a non-loopback address needs no flag.
    let cert = certificate(dir.path(), "relay");
    let relay = RelayProcess::spawn(
        &tls_args(&data, &cert.cert, &cert.key),
        "0.0.0.0:0",
        Stdio::inherit(),
    );
    assert!(relay.stop("TERM").success());
}
