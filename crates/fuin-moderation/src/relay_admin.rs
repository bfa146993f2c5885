//! The relay's admin API over HTTP (`spec/relay-operations.md` §12), as
//! the service's [`RelayAdmin`]: suspending a user and removing a device.
//!
//! It has its own URL (the relay's admin listener, loopback or a tunnel)
//! and its own credential (`Authorization: Admin <64 hex digits>`, read
//! from a file of mode 0600 by [`crate::config::credential`]). A refusal
//! becomes [`AdminError`] with the relay's JSON error code, or
//! `relay_unreachable` when no answer came.

use std::time::Duration;

use zeroize::Zeroizing;

use crate::service::{AdminError, BoxFuture, RelayAdmin};

/// The relay's admin API at a URL, with the admin credential.
pub struct HttpRelayAdmin {
    http: reqwest::Client,
    base: reqwest::Url,
    credential: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for HttpRelayAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRelayAdmin")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// Why an [`HttpRelayAdmin`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidAdminUrl(pub String);

impl std::fmt::Display for InvalidAdminUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the admin API address {:?} must be an http:// or https:// URL",
            self.0
        )
    }
}

impl std::error::Error for InvalidAdminUrl {}

fn unreachable_error() -> AdminError {
    AdminError {
        code: "relay_unreachable".to_owned(),
    }
}

impl HttpRelayAdmin {
    /// The admin API at `url` (such as `http://127.0.0.1:8081`).
    pub fn new(url: &str, credential: Zeroizing<[u8; 32]>) -> Result<Self, InvalidAdminUrl> {
        let base = reqwest::Url::parse(url).map_err(|_| InvalidAdminUrl(url.to_owned()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(InvalidAdminUrl(url.to_owned()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|_| InvalidAdminUrl(url.to_owned()))?;
        Ok(Self {
            http,
            base,
            credential,
        })
    }

    /// The URL of `segments` under the base. Each segment is
    /// percent-encoded (all but ASCII letters, digits and `-._~`), so a
    /// user id cannot name another path; `.` and `..`, which a URL parser
    /// would resolve, are refused.
    fn url(&self, segments: &[&str]) -> Result<reqwest::Url, AdminError> {
        let mut path = self.base.path().trim_end_matches('/').to_owned();
        for segment in segments {
            if segment.is_empty() || *segment == "." || *segment == ".." {
                return Err(AdminError {
                    code: "invalid_user_id".to_owned(),
                });
            }
            path.push('/');
            for byte in segment.bytes() {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    path.push(char::from(byte));
                } else {
                    path.push_str(&format!("%{byte:02X}"));
                }
            }
        }
        let mut url = self.base.clone();
        url.set_path(&path);
        Ok(url)
    }

    async fn call(&self, method: reqwest::Method, segments: &[&str]) -> Result<(), AdminError> {
        let url = self.url(segments)?;
        let auth = Zeroizing::new(format!("Admin {}", hex::encode(self.credential.as_ref())));
        let response = self
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, auth.as_str())
            .send()
            .await
            .map_err(|_| unreachable_error())?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.bytes().await.map_err(|_| unreachable_error())?;
        let code = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|value| value.get("code")?.as_str().map(str::to_owned))
            .filter(|code| {
                !code.is_empty()
                    && code.len() <= 64
                    && code
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
            })
            .unwrap_or_else(|| format!("http_{}", status.as_u16()));
        Err(AdminError { code })
    }
}

impl RelayAdmin for HttpRelayAdmin {
    fn suspend(&self, user: &str) -> BoxFuture<'_, Result<(), AdminError>> {
        let user = user.to_owned();
        Box::pin(async move {
            self.call(
                reqwest::Method::POST,
                &["v1", "admin", "users", &user, "suspend"],
            )
            .await
        })
    }

    fn remove_device(&self, user: &str, device: u32) -> BoxFuture<'_, Result<(), AdminError>> {
        let user = user.to_owned();
        Box::pin(async move {
            self.call(
                reqwest::Method::DELETE,
                &[
                    "v1",
                    "admin",
                    "users",
                    &user,
                    "devices",
                    &device.to_string(),
                ],
            )
            .await
        })
    }
}
