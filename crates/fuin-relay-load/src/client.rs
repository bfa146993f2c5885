//! Talking to the relay as a simulated device: one HTTP client for the whole
//! run, a request helper, and the enrolment that creates an account and logs
//! its device in.

use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use fuin_relay::api::FRAME_MEDIA_TYPE;
use fuin_wire::account::{
    AccountDevice, AccountRegistration, DeviceListContent, DeviceName, SignedDeviceList,
};
use fuin_wire::relay::{
    AuthChallenge, AuthToken, ChallengeRequest, ChallengeResponse, relay_auth_input,
};
use fuin_wire::{
    DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature, FrameBody, PublicIdentity, UserId,
    X25519PublicKey,
};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::random;

/// The run's HTTP client, shared by every simulated device.
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client that pools any number of idle connections (for 90 s) and sends
/// without Nagle's delay.
pub(crate) fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector)
}

/// One request; its status and body.
pub(crate) async fn call(
    client: &HttpClient,
    relay: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> Result<(StatusCode, Bytes), String> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("http://{relay}{path}"))
        .header(header::CONTENT_TYPE, FRAME_MEDIA_TYPE);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|err| format!("request: {err}"))?;
    let response = client
        .request(request)
        .await
        .map_err(|err| format!("{path}: {err}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|err| format!("{path}: reading the body: {err}"))?
        .to_bytes();
    Ok((status, body))
}

fn expect_status(path: &str, got: StatusCode, body: &[u8], want: &[u16]) -> Result<(), String> {
    if want.contains(&got.as_u16()) {
        Ok(())
    } else {
        Err(format!(
            "{path}: HTTP {got}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    }
}

/// A logged-in simulated device.
pub(crate) struct Device {
    pub(crate) address: DeviceAddress<'static>,
    pub(crate) token: String,
}

/// A POST without a token, retried while the relay answers 429: a relay
/// started on its own keeps its per-address limit on these endpoints, and
/// every simulated device comes from one address. Setup is not measured.
async fn call_anonymous(
    client: &HttpClient,
    relay: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(StatusCode, Bytes), String> {
    for _ in 0..600 {
        let (status, reply) = call(client, relay, Method::POST, path, None, body.clone()).await?;
        if status != StatusCode::TOO_MANY_REQUESTS {
            return Ok((status, reply));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{path}: still rate limited after a minute"))
}

/// Creates `user`'s account with device 1 (a list signed by a fresh account
/// key) and logs the device in.
pub(crate) async fn enrol(
    client: &HttpClient,
    relay: &str,
    user: String,
) -> Result<Device, String> {
    let key = SigningKey::from_bytes(&random());
    let account = SigningKey::from_bytes(&random());
    let user = UserId::new(user).map_err(|err| err.to_string())?;
    let address = DeviceAddress::new(user.clone(), DeviceId(1));
    let content = DeviceListContent {
        user,
        account_key: Ed25519PublicKey(account.verifying_key().to_bytes()),
        version: 1,
        created_at_ms: 0,
        devices: vec![AccountDevice {
            device: DeviceId(1),
            identity: PublicIdentity {
                signing_key: Ed25519PublicKey(key.verifying_key().to_bytes()),
                agreement_key: X25519PublicKey(random()),
                signature: Ed25519Signature([0; 64]),
            },
            name: DeviceName::new("load").map_err(|err| err.to_string())?,
            added_at_ms: 0,
        }]
        .into(),
    };
    let signed = content.signed_string().map_err(|err| err.to_string())?;
    let registration = AccountRegistration {
        device_list: SignedDeviceList {
            signature: Ed25519Signature(account.sign(&signed).to_bytes()),
            content,
        },
        invite: None,
    };
    let encoded = registration.to_bytes().map_err(|err| err.to_string())?;
    let (status, body) = call_anonymous(client, relay, "/v1/accounts", encoded).await?;
    expect_status("/v1/accounts", status, &body, &[201])?;

    let request = ChallengeRequest {
        address: address.clone(),
    };
    let encoded = request.to_bytes().map_err(|err| err.to_string())?;
    let path = "/v1/auth/challenge";
    let (status, body) = call_anonymous(client, relay, path, encoded).await?;
    expect_status(path, status, &body, &[200])?;
    let challenge = AuthChallenge::from_bytes(&body).map_err(|err| format!("{path}: {err}"))?;
    let answer = ChallengeResponse {
        address: address.clone(),
        nonce: challenge.nonce,
        signature: Ed25519Signature(
            key.sign(&relay_auth_input(
                &format!("http://{relay}"),
                &address,
                &challenge.nonce,
            ))
            .to_bytes(),
        ),
    };
    let encoded = answer.to_bytes().map_err(|err| err.to_string())?;
    let path = "/v1/auth/token";
    let (status, body) = call_anonymous(client, relay, path, encoded).await?;
    expect_status(path, status, &body, &[200])?;
    let token = AuthToken::from_bytes(&body).map_err(|err| format!("{path}: {err}"))?;
    Ok(Device {
        address,
        token: token.token.0.iter().map(|b| format!("{b:02x}")).collect(),
    })
}
