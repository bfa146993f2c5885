//! The relay's HTTP API as the device sees it (`spec/relay-api.md`): each
//! call sends one frame and reads one frame back, and a refusal becomes
//! [`ClientError::Relay`] with the relay's stable code.

use std::time::Duration;

use fuin_wire::account::{AccountRegistration, LinkMessage, SignedDeviceList};
use fuin_wire::relay::{
    Acknowledgement, AuthChallenge, AuthToken, BearerToken, BundleSet, ChallengeRequest,
    ChallengeResponse, MailboxBatch, PrekeyCount, PrekeyUpload, ReportAccepted, SendAccepted,
};
use fuin_wire::{DeviceAddress, DeviceId, FrameBody, MessageId, UserId};
use reqwest::{Method, StatusCode};
use zeroize::Zeroizing;

use crate::ClientError;

/// The media type of frame bodies.
const FRAME_MEDIA_TYPE: &str = "application/x-fuin-frame";

/// A connection to one relay.
pub(crate) struct RelayConnection {
    http: reqwest::Client,
    /// HTTP/1.1 only, with the same roots: a WebSocket upgrade needs an
    /// HTTP/1.1 connection of its own (`crate::background::socket`).
    pub(crate) upgrade_http: reqwest::Client,
    base: String,
    origin: String,
}

#[derive(serde::Deserialize)]
struct RelayErrorBody {
    code: String,
    message: String,
}

impl RelayConnection {
    /// A connection to the relay at `base` (`http://host:port` or
    /// `https://...`), trusting `extra_root` (a PEM certificate) besides the
    /// platform's roots when given.
    pub fn new(base: &str, extra_root: Option<&[u8]>) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::InvalidArgument(format!(
                "the relay address {base:?} must start with http:// or https://"
            )));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Long polls wait up to 30 s at the relay.
            .timeout(Duration::from_secs(60))
            // Below the relay's idle close (10 s by default): a connection the
            // relay may be closing is never reused.
            .pool_idle_timeout(Duration::from_secs(5));
        // No overall timeout: an upgraded stream lives as long as it works
        // (the opening handshake has its own deadline).
        let mut upgrade_builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .http1_only()
            .pool_max_idle_per_host(0);
        if let Some(pem) = extra_root {
            let certificate = reqwest::Certificate::from_pem(pem).map_err(|err| {
                ClientError::InvalidArgument(format!("the relay certificate is unreadable: {err}"))
            })?;
            builder = builder.add_root_certificate(certificate.clone());
            upgrade_builder = upgrade_builder.add_root_certificate(certificate);
        }
        let origin = fuin_wire::relay::relay_origin(&base).ok_or_else(|| {
            ClientError::InvalidArgument(format!("the relay address {base:?} names no host"))
        })?;
        let http = builder
            .build()
            .map_err(|err| ClientError::Unreachable(format!("HTTP client: {err}")))?;
        let upgrade_http = upgrade_builder
            .build()
            .map_err(|err| ClientError::Unreachable(format!("HTTP client: {err}")))?;
        Ok(Self {
            http,
            upgrade_http,
            base,
            origin,
        })
    }

    /// The relay's origin as a login signature binds it
    /// (`relay-api.md` §2.2): scheme and authority of the address the
    /// device was set up with.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The relay's address as given.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&BearerToken>,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, bytes::Bytes), ClientError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            let value = Zeroizing::new(format!("Bearer {}", hex::encode(token.0)));
            request = request.header(reqwest::header::AUTHORIZATION, value.as_str());
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, FRAME_MEDIA_TYPE)
                .body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|err| ClientError::Unreachable(describe(&err)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| ClientError::Unreachable(describe(&err)))?;
        if status.is_success() {
            return Ok((status, bytes));
        }
        Err(refusal(status, &bytes))
    }

    fn decode<'a, T: FrameBody<'a>>(bytes: &'a [u8], what: &str) -> Result<T, ClientError> {
        T::from_bytes(bytes)
            .map_err(|err| ClientError::RelayMisbehaved(format!("{what} answer: {err}")))
    }

    pub async fn challenge(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<AuthChallenge, ClientError> {
        let request = ChallengeRequest {
            address: address.clone(),
        };
        let (_, bytes) = self
            .call(
                Method::POST,
                "/v1/auth/challenge",
                None,
                Some(request.to_bytes()?),
            )
            .await?;
        Self::decode(&bytes, "challenge")
    }

    pub async fn token(&self, response: &ChallengeResponse<'_>) -> Result<AuthToken, ClientError> {
        let (_, bytes) = self
            .call(
                Method::POST,
                "/v1/auth/token",
                None,
                Some(response.to_bytes()?),
            )
            .await?;
        Self::decode(&bytes, "token")
    }

    pub async fn publish_prekeys(
        &self,
        token: &BearerToken,
        upload: &PrekeyUpload,
    ) -> Result<PrekeyCount, ClientError> {
        let (_, bytes) = self
            .call(
                Method::PUT,
                "/v1/prekeys",
                Some(token),
                Some(upload.to_bytes()?),
            )
            .await?;
        Self::decode(&bytes, "prekey upload")
    }

    /// How many one-time prekeys of each kind the device has at the relay,
    /// and whether either pool is low (`GET /v1/prekeys/count`).
    pub async fn prekey_count(&self, token: &BearerToken) -> Result<PrekeyCount, ClientError> {
        let (_, bytes) = self
            .call(Method::GET, "/v1/prekeys/count", Some(token), None)
            .await?;
        Self::decode(&bytes, "prekey count")
    }

    /// Creates an account with its first device list (`POST /v1/accounts`).
    pub async fn create_account(
        &self,
        registration: &AccountRegistration<'_>,
    ) -> Result<(), ClientError> {
        self.call(
            Method::POST,
            "/v1/accounts",
            None,
            Some(registration.to_bytes()?),
        )
        .await?;
        Ok(())
    }

    /// The newest device list the relay accepted for `user`
    /// (`GET /v1/users/{user}/devices`), not yet verified.
    pub async fn device_list(
        &self,
        token: &BearerToken,
        user: &UserId<'_>,
    ) -> Result<SignedDeviceList<'static>, ClientError> {
        let path = format!("/v1/users/{}/devices", percent_encode(user.as_str()));
        match self.call(Method::GET, &path, Some(token), None).await {
            Ok((_, bytes)) => {
                Ok(Self::decode::<SignedDeviceList<'_>>(&bytes, "device list")?.into_owned())
            }
            Err(ClientError::Relay { status: 404, .. }) => Err(ClientError::UnknownUser {
                user: user.as_str().to_owned(),
            }),
            Err(err) => Err(err),
        }
    }

    /// Publishes a newer list of this device's user (`PUT /v1/account/devices`).
    pub async fn publish_device_list(
        &self,
        token: &BearerToken,
        list: &SignedDeviceList<'_>,
    ) -> Result<(), ClientError> {
        self.call(
            Method::PUT,
            "/v1/account/devices",
            Some(token),
            Some(list.to_bytes()?),
        )
        .await?;
        Ok(())
    }

    /// Leaves one sealed message of a link exchange at the rendezvous
    /// (`PUT /v1/link/{channel}/{slot}`).
    pub async fn put_link_message(
        &self,
        channel: &[u8; 16],
        slot: &str,
        message: &LinkMessage<'_>,
    ) -> Result<(), ClientError> {
        let path = format!("/v1/link/{}/{slot}", hex::encode(channel));
        self.call(Method::PUT, &path, None, Some(message.to_bytes()?))
            .await?;
        Ok(())
    }

    /// Takes the message waiting in a rendezvous slot, waiting up to `wait`
    /// for one (`GET /v1/link/{channel}/{slot}`); `None` if none came.
    pub async fn take_link_message(
        &self,
        channel: &[u8; 16],
        slot: &str,
        wait: Duration,
    ) -> Result<Option<LinkMessage<'static>>, ClientError> {
        let path = format!(
            "/v1/link/{}/{slot}?wait_ms={}",
            hex::encode(channel),
            wait.as_millis()
        );
        match self.call(Method::GET, &path, None, None).await {
            Ok((_, bytes)) => Ok(Some(
                Self::decode::<LinkMessage<'_>>(&bytes, "link message")?.into_owned(),
            )),
            Err(ClientError::Relay { status: 404, .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Whether `user/device` has published prekeys (a bundle fetch: it
    /// spends one of the device's one-time prekeys when it has).
    pub async fn has_bundle(
        &self,
        token: &BearerToken,
        user: &UserId<'_>,
        device: DeviceId,
    ) -> Result<bool, ClientError> {
        match self.bundle(token, user, device).await {
            Ok(_) => Ok(true),
            Err(ClientError::Relay { status: 404, .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    pub async fn bundle(
        &self,
        token: &BearerToken,
        user: &UserId<'_>,
        device: DeviceId,
    ) -> Result<BundleSet<'static>, ClientError> {
        let path = format!(
            "/v1/users/{}/bundles?device={}",
            percent_encode(user.as_str()),
            device.0
        );
        let (_, bytes) = self.call(Method::GET, &path, Some(token), None).await?;
        Ok(Self::decode::<BundleSet<'_>>(&bytes, "bundles")?.into_owned())
    }

    pub async fn send(
        &self,
        token: &BearerToken,
        batch: &[u8],
    ) -> Result<SendAccepted, ClientError> {
        let (_, bytes) = self
            .call(
                Method::POST,
                "/v1/messages",
                Some(token),
                Some(batch.to_vec()),
            )
            .await?;
        Self::decode(&bytes, "send")
    }

    /// Posts a `GroupSend` frame for the relay to fan out
    /// (`POST /v1/groups/messages`).
    pub async fn group_send(
        &self,
        token: &BearerToken,
        frame: &[u8],
    ) -> Result<SendAccepted, ClientError> {
        let (_, bytes) = self
            .call(
                Method::POST,
                "/v1/groups/messages",
                Some(token),
                Some(frame.to_vec()),
            )
            .await?;
        Self::decode(&bytes, "group send")
    }

    /// Submits a `SealedReport` frame to the report inbox (`POST /v1/reports`).
    pub async fn submit_report(
        &self,
        token: &BearerToken,
        frame: &[u8],
    ) -> Result<ReportAccepted, ClientError> {
        let (_, bytes) = self
            .call(
                Method::POST,
                "/v1/reports",
                Some(token),
                Some(frame.to_vec()),
            )
            .await?;
        Self::decode(&bytes, "report")
    }

    pub async fn fetch(
        &self,
        token: &BearerToken,
        wait: Duration,
    ) -> Result<MailboxBatch<'static>, ClientError> {
        let path = format!("/v1/mailbox?wait_ms={}", wait.as_millis());
        let (_, bytes) = self.call(Method::GET, &path, Some(token), None).await?;
        Ok(Self::decode::<MailboxBatch<'_>>(&bytes, "mailbox")?.into_owned())
    }

    pub async fn acknowledge(
        &self,
        token: &BearerToken,
        ids: &[MessageId],
    ) -> Result<(), ClientError> {
        for chunk in ids.chunks(fuin_wire::relay::MAX_ACKNOWLEDGED) {
            let ack = Acknowledgement {
                message_ids: chunk.to_vec().into(),
            };
            self.call(
                Method::POST,
                "/v1/mailbox/ack",
                Some(token),
                Some(ack.to_bytes()?),
            )
            .await?;
        }
        Ok(())
    }

    /// Uploads a blob (`PUT /v1/blobs/{blob_id}`, relay-api.md §4.12); the
    /// body is the blob's raw bytes, streamed from `body`.
    pub async fn put_blob(
        &self,
        token: &BearerToken,
        blob_id: &fuin_wire::BlobId,
        body: reqwest::Body,
        len: u64,
    ) -> Result<fuin_wire::relay::BlobReceipt, ClientError> {
        let value = Zeroizing::new(format!("Bearer {}", hex::encode(token.0)));
        let response = self
            .http
            .put(format!("{}/v1/blobs/{}", self.base, hex::encode(blob_id.0)))
            .header(reqwest::header::AUTHORIZATION, value.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body)
            .send()
            .await
            .map_err(|err| ClientError::Unreachable(describe(&err)))?;
        let bytes = Self::success(response).await?.bytes().await;
        let bytes = bytes.map_err(|err| ClientError::Unreachable(describe(&err)))?;
        Self::decode(&bytes, "blob upload")
    }

    /// Starts downloading a blob (`GET /v1/blobs/{blob_id}`, relay-api.md
    /// §4.13) with its capability; the caller reads the body chunk by chunk.
    pub async fn get_blob(
        &self,
        token: &BearerToken,
        blob_id: &fuin_wire::BlobId,
        capability: &fuin_wire::relay::BlobCapability,
    ) -> Result<reqwest::Response, ClientError> {
        let value = Zeroizing::new(format!("Bearer {}", hex::encode(token.0)));
        let capability = Zeroizing::new(hex::encode(capability.0));
        let response = self
            .http
            .get(format!("{}/v1/blobs/{}", self.base, hex::encode(blob_id.0)))
            .header(reqwest::header::AUTHORIZATION, value.as_str())
            .header("Fuin-Blob-Capability", capability.as_str())
            .send()
            .await
            .map_err(|err| ClientError::Unreachable(describe(&err)))?;
        Self::success(response).await
    }

    /// The response if it is a success, else the relay's error.
    async fn success(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response.bytes().await.unwrap_or_default();
        let (code, message) = match serde_json::from_slice::<RelayErrorBody>(&bytes) {
            Ok(body) => (body.code, body.message),
            Err(_) => (
                "unknown".to_owned(),
                format!("HTTP {status} without a relay error body"),
            ),
        };
        Err(ClientError::Relay {
            status: status.as_u16(),
            code,
            message,
        })
    }
}

/// An error of the HTTP client in words, without the URL's query (which
/// holds nothing secret today, but need not be repeated).
/// A refusal by the relay: its stable code and message from the JSON body.
pub(crate) fn refusal(status: StatusCode, body: &[u8]) -> ClientError {
    let (code, message) = match serde_json::from_slice::<RelayErrorBody>(body) {
        Ok(body) => (body.code, body.message),
        Err(_) => (
            "unknown".to_owned(),
            format!("HTTP {status} without a relay error body"),
        ),
    };
    ClientError::Relay {
        status: status.as_u16(),
        code,
        message,
    }
}

pub(crate) fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "the answer could not be read"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(err);
    let mut detail = String::new();
    while let Some(inner) = source {
        detail = inner.to_string();
        source = inner.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({detail})")
    }
}

/// Percent-encodes a user id for a path segment: everything but unreserved
/// ASCII characters.
fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_percent_encoded_in_paths() {
        assert_eq!(percent_encode("alice"), "alice");
        assert_eq!(percent_encode("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
