//! What the console's HTTP tests share: a console over the SQLite store
//! (in a temporary directory) with fake relay admin and messenger, an injected clock, and a browser
//! that logs in and posts forms with the page's CSRF token.
#![allow(dead_code, unused_imports)]

pub use std::sync::atomic::{AtomicU64, Ordering};
pub use std::sync::{Arc, Mutex};

pub use axum::Router;
pub use axum::body::Body;
pub use axum::http::{HeaderMap, Request, StatusCode, header};
pub use fuin_moderation::accounts::create_account;
pub use fuin_moderation::audit::{AuditAction, NewAuditRecord};
pub use fuin_moderation::model::{
    AccountName, CaseAttachment, CaseId, CaseMessage, CaseStatus, ConversationKind, LockoutPolicy,
    NewCase, Role, SERVICE_ACTOR,
};
pub use fuin_moderation::service::{
    AdminError, BoxFuture, Messenger, MessengerError, RelayAdmin, Service,
};
pub use fuin_moderation::store::ModerationStore;
pub use fuin_moderation::store::sqlite::SqliteStore;
pub use fuin_moderation::vault::Vault;
pub use fuin_moderation::web::{CONTENT_SECURITY_POLICY, router};
pub use http_body_util::BodyExt;
pub use tower::ServiceExt;

pub type Store = SqliteStore;

/// The database of a test console, in its temporary directory.
pub fn db_path(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("moderation.db")
}

pub fn new_store(dir: &std::path::Path) -> Store {
    SqliteStore::open(&db_path(dir)).unwrap()
}

pub const PASSWORD: &str = "a long enough password";
pub const T0: u64 = 1_796_000_000_000;

/// A relay admin API that records calls and fails when told to.
#[derive(Default)]
pub struct FakeAdmin {
    pub calls: Mutex<Vec<String>>,
    pub fail_with: Mutex<Option<String>>,
}

impl FakeAdmin {
    pub fn answer(&self, call: String) -> Result<(), AdminError> {
        self.calls.lock().unwrap().push(call);
        match self.fail_with.lock().unwrap().clone() {
            Some(code) => Err(AdminError { code }),
            None => Ok(()),
        }
    }
}

impl RelayAdmin for FakeAdmin {
    fn suspend(&self, user: &str) -> BoxFuture<'_, Result<(), AdminError>> {
        let result = self.answer(format!("suspend {user}"));
        Box::pin(async move { result })
    }

    fn remove_device(&self, user: &str, device: u32) -> BoxFuture<'_, Result<(), AdminError>> {
        let result = self.answer(format!("remove {user}/{device}"));
        Box::pin(async move { result })
    }
}

/// A messenger that records what it sends.
#[derive(Default)]
pub struct FakeMessenger {
    pub sent: Mutex<Vec<(String, String)>>,
}

impl Messenger for FakeMessenger {
    fn send_text<'a>(
        &'a self,
        user: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), MessengerError>> {
        self.sent
            .lock()
            .unwrap()
            .push((user.to_owned(), text.to_owned()));
        Box::pin(async { Ok(()) })
    }
}

pub struct Console {
    pub service: Arc<Service<Store>>,
    pub app: Router,
    pub admin: Arc<FakeAdmin>,
    pub messenger: Arc<FakeMessenger>,
    pub now: Arc<AtomicU64>,
    pub dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map_or("", |v| v.to_str().unwrap())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

/// A logged-in browser: its session cookie and the page's CSRF token.
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        for (j, part) in [key, value].into_iter().enumerate() {
            if j == 1 {
                out.push('=');
            }
            for byte in part.bytes() {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    out.push(byte as char);
                } else {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
        }
    }
    out
}

/// The value of the first `name="csrf" value="..."` in a page.
pub fn csrf_in(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let at = page.find(marker).expect("a csrf field") + marker.len();
    page[at..at + 64].to_owned()
}

pub fn cookie_value(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies.iter().find_map(|c| {
        let first = c.split(';').next()?;
        let (key, value) = first.split_once('=')?;
        (key == name && !value.is_empty()).then(|| value.to_owned())
    })
}

impl Console {
    pub async fn new() -> Self {
        Self::with(true).await
    }

    pub async fn with(messenger_present: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicU64::new(T0));
        let clock_now = now.clone();
        let admin = Arc::new(FakeAdmin::default());
        let messenger = Arc::new(FakeMessenger::default());
        let service = Arc::new(Service {
            store: new_store(dir.path()),
            vault: Vault::generate(),
            admin: admin.clone(),
            messenger: messenger_present.then(|| messenger.clone() as Arc<dyn Messenger>),
            clock: Arc::new(move || clock_now.load(Ordering::SeqCst)),
            lockout: LockoutPolicy::default(),
            secure_cookies: false,
        });
        for (name, role) in [("mo", Role::Moderator), ("lea", Role::Lead)] {
            create_account(
                &service.store,
                &AccountName::new(name).unwrap(),
                role,
                PASSWORD,
                SERVICE_ACTOR,
                T0,
            )
            .await
            .unwrap();
        }
        Self {
            app: router(service.clone()),
            service,
            admin,
            messenger,
            now,
            dir,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut request = Request::get(path).header(header::HOST, "console.test");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub async fn post(&self, path: &str, cookie: &str, pairs: &[(&str, &str)]) -> Reply {
        self.post_with(path, cookie, pairs, None).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        cookie: &str,
        pairs: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Reply {
        let mut request = Request::post(path)
            .header(header::HOST, "console.test")
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        self.send(request.body(Body::from(form_encode(pairs))).unwrap())
            .await
    }

    /// Opens the login page and posts `account`/`password` from it.
    pub async fn try_login(&self, account: &str, password: &str) -> Reply {
        let page = self.get("/login", None).await;
        let login_cookie = cookie_value(&page.set_cookies(), "fuin_login").unwrap();
        let cookie = format!("fuin_login={login_cookie}");
        self.post(
            "/login",
            &cookie,
            &[
                ("csrf", &csrf_in(&page.body)),
                ("account", account),
                ("password", password),
            ],
        )
        .await
    }

    pub async fn login(&self, account: &str) -> Browser {
        let reply = self.try_login(account, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let session = cookie_value(&reply.set_cookies(), "fuin_session").unwrap();
        let cookie = format!("fuin_session={session}");
        let page = self.get("/cases", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK);
        Browser {
            csrf: csrf_in(&page.body),
            cookie,
        }
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        let records = self.service.store.audit_log().await.unwrap();
        records.into_iter().map(|r| r.action).collect()
    }

    /// Stores a case with one verified message (with an attachment) and one
    /// rejected message, the given texts in every content field.
    pub async fn seed_case(
        &self,
        byte: u8,
        reason: &str,
        text: &str,
        file_name: &str,
        media_type: &str,
    ) -> CaseId {
        self.seed_case_with(byte, byte, reason, text, file_name, media_type)
            .await
    }

    /// As [`Console::seed_case`], the messages' commitments made from
    /// `commitment_byte` (two cases with the same one report the same
    /// messages).
    pub async fn seed_case_with(
        &self,
        byte: u8,
        commitment_byte: u8,
        reason: &str,
        text: &str,
        file_name: &str,
        media_type: &str,
    ) -> CaseId {
        let id = CaseId(format!("{byte:02x}").repeat(16));
        let vault = &self.service.vault;
        let message = |index: u32, verdict: &str, rejection: &str| CaseMessage {
            index,
            sender: "mallory/1".into(),
            recipient: "alice/2".into(),
            content_type: "text".into(),
            text: vault.seal(&id, &format!("message/{index}/text"), text.as_bytes()),
            commitment: format!("{index:02x}{commitment_byte:02x}").repeat(16),
            server_time_ms: T0 - 60_000,
            verdict: verdict.into(),
            rejection: rejection.into(),
            attachment: None,
        };
        let mut first = message(0, "verified", "");
        first.attachment = Some(CaseAttachment {
            status: "verified".into(),
            media_type: media_type.into(),
            file_name: vault.seal(&id, "message/0/file-name", file_name.as_bytes()),
            bytes: Some(vault.seal(&id, "message/0/attachment", b"\x89PNG fake image bytes")),
            size: 21,
        });
        let case = NewCase {
            id: id.clone(),
            reporter: "alice/2".into(),
            reporter_user: "alice".into(),
            reported_user: Some("mallory".into()),
            kind: ConversationKind::Direct,
            group: None,
            reason: vault.seal(&id, "reason", reason.as_bytes()),
            created_at_ms: T0 - 30_000,
            received_at_ms: T0 - 20_000,
            opened_at_ms: T0 - 10_000,
            post_quantum: true,
            messages: vec![first, message(1, "rejected", "commitment_mismatch")],
        };
        let audit = NewAuditRecord {
            time_ms: T0 - 10_000,
            actor: SERVICE_ACTOR.into(),
            action: AuditAction::ReportOpened,
            case: Some(id.clone()),
            detail: "{\"verified\":1,\"duplicates\":0,\"rejected\":1}".into(),
        };
        self.service.store.open_case(case, audit).await.unwrap();
        id
    }

    pub async fn plain_case(&self, byte: u8) -> CaseId {
        self.seed_case(byte, "spam", "buy now", "photo.png", "image/png")
            .await
    }

    /// Edits one stored audit record's detail behind the store's back.
    pub fn tamper(&self, seq: u64, detail: &str) {
        let db = rusqlite::Connection::open(db_path(self.dir.path())).unwrap();
        let changed = db
            .execute(
                "UPDATE audit SET detail = ?1 WHERE seq = ?2",
                rusqlite::params![detail, seq as i64],
            )
            .unwrap();
        assert_eq!(changed, 1);
    }

    pub async fn status_of(&self, id: &CaseId) -> CaseStatus {
        self.service
            .store
            .case(id)
            .await
            .unwrap()
            .unwrap()
            .summary
            .status
    }
}
