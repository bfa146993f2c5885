//! `fuin-relay admin`: the operator's client of the admin API
//! (`spec/relay-operations.md` §12). It holds the admin credential in a file only
//! its owner may read, presents it on every request, and shows the answer
//! as text or, with `--json`, as the relay's JSON.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use sha2::Digest;
use zeroize::Zeroizing;

use super::RunError;
use crate::api::{MAX_ACTIONS_LISTED, MAX_INVITES_PER_REQUEST};

/// How long one admin request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest answer read (a thousand invite codes are 67 KB).
const MAX_ANSWER_LEN: usize = 4 * 1024 * 1024;

/// The options of `admin`.
#[derive(clap::Args)]
pub struct AdminArgs {
    /// The relay's admin API: `http://` and its `--admin-listen` address.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8081")]
    url: String,
    /// The admin credential: a file only its owner may read (mode 0600)
    /// holding 32 bytes, raw or as 64 hex digits (`keygen` makes one).
    #[arg(long, value_name = "PATH")]
    credential_file: PathBuf,
    /// Print the relay's answer as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// What to do.
    #[command(subcommand)]
    action: AdminAction,
}

/// What `admin` does.
#[derive(clap::Subcommand)]
pub enum AdminAction {
    /// Make a new credential in `--credential-file` (mode 0600; it must not
    /// exist) and print its SHA-256, the relay's `--admin-credential-hash`.
    Keygen,
    /// Count what the relay holds.
    Stats,
    /// Suspend a user: their requests and logins are refused, their streams
    /// and long polls end; others may still send to them.
    Suspend {
        /// The user id.
        user: String,
    },
    /// Lift a user's suspension.
    Restore {
        /// The user id.
        user: String,
    },
    /// Deregister a device: its tokens, prekeys and mailbox go, its streams
    /// close. The user's signed device list is left as they signed it.
    RemoveDevice {
        /// The user id.
        user: String,
        /// The device id.
        device: u32,
    },
    /// Revoke the tokens of a device, or of every device of a user.
    RevokeTokens {
        /// The user id.
        user: String,
        /// The device id; all devices of the user if left out.
        device: Option<u32>,
    },
    /// Make invite codes for `--registration invite`, printed one a line.
    Invite {
        /// How many codes to make.
        #[arg(long, default_value_t = 1,
              value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_INVITES_PER_REQUEST)))]
        count: u32,
    },
    /// Run the expiry sweep now and say how much went.
    Purge,
    /// Show the audit log of admin actions, newest first.
    Log {
        /// How many records to show.
        #[arg(long, default_value_t = 50,
              value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_ACTIONS_LISTED)))]
        limit: u32,
    },
}

/// What `admin` answered: a text for people and the JSON for scripts.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminAnswer {
    /// The answer as text (lines, no trailing newline).
    pub text: String,
    /// The answer as JSON.
    pub json: Value,
}

impl AdminArgs {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }
}

/// Runs `admin`: one request to the admin API (or, for `keygen`, none).
pub async fn run_admin(args: &AdminArgs) -> Result<AdminAnswer, RunError> {
    let Some((method, path)) = request_of(&args.action) else {
        return keygen(&args.credential_file);
    };
    let credential = read_credential(&args.credential_file)?;
    let answer = call(&args.url, method, &path, &credential).await?;
    Ok(AdminAnswer {
        text: text_of(&args.action, &answer),
        json: answer,
    })
}

/// The method and path of the admin API request `action` makes; `None`
/// for `keygen`, which makes none.
fn request_of(action: &AdminAction) -> Option<(&'static str, String)> {
    let users = "/v1/admin/users";
    Some(match action {
        AdminAction::Keygen => return None,
        AdminAction::Stats => ("GET", "/v1/admin/stats".to_owned()),
        AdminAction::Suspend { user } => ("POST", format!("{users}/{}/suspend", escaped(user))),
        AdminAction::Restore { user } => ("POST", format!("{users}/{}/restore", escaped(user))),
        AdminAction::RemoveDevice { user, device } => (
            "DELETE",
            format!("{users}/{}/devices/{device}", escaped(user)),
        ),
        AdminAction::RevokeTokens { user, device: None } => {
            ("DELETE", format!("{users}/{}/tokens", escaped(user)))
        }
        AdminAction::RevokeTokens {
            user,
            device: Some(device),
        } => (
            "DELETE",
            format!("{users}/{}/devices/{device}/tokens", escaped(user)),
        ),
        AdminAction::Invite { count } => ("POST", format!("/v1/admin/invites?count={count}")),
        AdminAction::Purge => ("POST", "/v1/admin/purge".to_owned()),
        AdminAction::Log { limit } => ("GET", format!("/v1/admin/actions?limit={limit}")),
    })
}

/// A user id as one path segment: percent-escaped but for unreserved
/// characters, so that no argument can reach another endpoint.
fn escaped(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// One request to the admin API; the answer's JSON, or the relay's refusal.
async fn call(
    url: &str,
    method: &str,
    path: &str,
    credential: &[u8; 32],
) -> Result<Value, RunError> {
    let base = url.trim_end_matches('/');
    if !base.starts_with("http://") {
        return Err(RunError::AdminUnreachable(format!(
            "the admin URL {url:?} is not an http:// URL (the admin API serves plain HTTP \
             on loopback; reach a remote one through an SSH tunnel)"
        )));
    }
    let uri: hyper::Uri = format!("{base}{path}")
        .parse()
        .map_err(|_| RunError::AdminUnreachable(format!("the admin URL {url:?} is not a URL")))?;
    let authorization = Zeroizing::new(format!("Admin {}", hex::encode(credential)));
    let request = hyper::Request::builder()
        .method(method)
        .uri(uri)
        .header(hyper::header::AUTHORIZATION, authorization.as_str())
        .body(Full::new(Bytes::new()))
        .map_err(|_| RunError::AdminUnreachable("cannot make the request".to_owned()))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let unreachable = |why: String| {
        RunError::AdminUnreachable(format!("cannot reach the admin API at {base}: {why}"))
    };
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|err| unreachable(err.to_string()))?;
        let status = response.status().as_u16();
        let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_LEN)
            .collect()
            .await
            .map_err(|err| unreachable(err.to_string()))?
            .to_bytes();
        Ok::<_, RunError>((status, body))
    };
    let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| unreachable(format!("no answer within {REQUEST_TIMEOUT:?}")))??;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|_| unreachable(format!("the answer ({status}) is not JSON")))?;
    if status != 200 {
        let field = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        return Err(RunError::AdminRefused {
            status,
            code: field("code"),
            message: field("message"),
        });
    }
    Ok(value)
}

/// The answer as lines for people.
fn text_of(action: &AdminAction, answer: &Value) -> String {
    let number = |name: &str| answer.get(name).and_then(Value::as_u64).unwrap_or(0);
    let flag = |name: &str| answer.get(name).and_then(Value::as_bool).unwrap_or(false);
    match action {
        AdminAction::Keygen => String::new(),
        AdminAction::Stats => [
            ("accounts", "accounts"),
            ("devices", "devices"),
            ("envelopes waiting", "envelopes"),
            ("envelope bytes", "envelope_bytes"),
            ("reports waiting", "reports"),
            ("blobs", "blobs"),
            ("blob bytes", "blob_bytes"),
            ("tokens", "tokens"),
            ("suspended users", "suspended_users"),
            ("unspent invites", "invites"),
            ("open streams (this node)", "open_streams"),
        ]
        .iter()
        .map(|(label, name)| format!("{label}: {}", number(name)))
        .collect::<Vec<_>>()
        .join("\n"),
        AdminAction::Suspend { user } => {
            if flag("changed") {
                format!("suspended {user}")
            } else {
                format!("{user} was suspended already")
            }
        }
        AdminAction::Restore { user } => {
            if flag("changed") {
                format!("restored {user}")
            } else {
                format!("{user} was not suspended")
            }
        }
        AdminAction::RemoveDevice { user, device } => {
            format!("removed device {device} of {user}")
        }
        AdminAction::RevokeTokens { user, device } => {
            let revoked = number("revoked");
            match device {
                Some(device) => format!("revoked {revoked} token(s) of device {device} of {user}"),
                None => format!("revoked {revoked} token(s) of {user}'s devices"),
            }
        }
        AdminAction::Invite { .. } => answer
            .get("invites")
            .and_then(Value::as_array)
            .map(|codes| {
                codes
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
        AdminAction::Log { .. } => answer
            .get("actions")
            .and_then(Value::as_array)
            .map(|records| {
                records
                    .iter()
                    .map(|record| {
                        let field =
                            |name: &str| record.get(name).and_then(Value::as_str).unwrap_or("");
                        let at = record.get("at_ms").and_then(Value::as_u64).unwrap_or(0);
                        format!(
                            "{at} {} {} {}",
                            field("action"),
                            field("target"),
                            field("outcome")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
        AdminAction::Purge => {
            let removed = |name: &str| {
                answer
                    .get("removed")
                    .and_then(|removed| removed.get(name))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            };
            format!(
                "purged {} envelope(s) ({} bytes), {} token(s), {} blob(s) ({} bytes), {} report(s)",
                removed("envelopes"),
                removed("envelope_bytes"),
                removed("tokens"),
                removed("blobs"),
                removed("blob_bytes"),
                removed("reports"),
            )
        }
    }
}

/// Makes a credential file (mode 0600, refusing to replace one) of 64 hex
/// digits and a newline; answers the SHA-256 of the 32 bytes.
fn keygen(path: &Path) -> Result<AdminAnswer, RunError> {
    let mut credential = Zeroizing::new([0u8; 32]);
    rand::fill(credential.as_mut());
    let mut text = Zeroizing::new(hex::encode(credential.as_ref()));
    text.push('\n');
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .map_err(|err| {
            RunError::AdminCredential(format!("cannot create {}: {err}", path.display()))
        })?;
    let hash = hex::encode(sha2::Sha256::digest(credential.as_ref()));
    Ok(AdminAnswer {
        text: hash.clone(),
        json: json!({
            "credential_file": path.display().to_string(),
            "credential_hash": hash,
        }),
    })
}

/// Reads the credential: 32 raw bytes, or 64 hex digits (with or without a
/// final newline), from a file that no one but its owner may use.
fn read_credential(path: &Path) -> Result<Zeroizing<[u8; 32]>, RunError> {
    let refuse = |why: String| {
        RunError::AdminCredential(format!(
            "cannot use the admin credential {}: {why}",
            path.display()
        ))
    };
    let mut file = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|err| refuse(err.to_string()))?;
    let mode = file
        .metadata()
        .map_err(|err| refuse(err.to_string()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(refuse(format!(
            "its mode is {:04o}: others than its owner may use it (chmod 600)",
            mode & 0o7777
        )));
    }
    // Room for 64 digits, a newline and one byte more, to see it is longer.
    let mut contents = Zeroizing::new(Vec::with_capacity(67));
    Read::take(&mut file, 67)
        .read_to_end(&mut contents)
        .map_err(|err| refuse(err.to_string()))?;
    let mut credential = Zeroizing::new([0u8; 32]);
    if contents.len() == 32 {
        credential.copy_from_slice(&contents);
        return Ok(credential);
    }
    let digits = contents.strip_suffix(b"\n").unwrap_or(&contents);
    if digits.len() == 64 && hex::decode_to_slice(digits, credential.as_mut()).is_ok() {
        return Ok(credential);
    }
    Err(refuse("expected 32 bytes, or 64 hex digits".to_owned()))
}
