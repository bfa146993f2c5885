//! Logging in and out, and the [`Moderator`] every other page is served to
//! (`spec/report.md` §13.4).

use std::sync::Arc;

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use zeroize::Zeroizing;

use super::session::{
    CSRF_LABEL, LOGIN_COOKIE, LOGIN_CSRF_LABEL, SESSION_COOKIE, SESSION_MS, Token, cookie,
    csrf_matches, set_cookie,
};
use super::{field, pages, see_other, store_failed};
use crate::accounts::{verify_against_dummy, verify_password};
use crate::audit::{AuditAction, NewAuditRecord};
use crate::model::{AccountName, CaseId, Role, Session};
use crate::service::Service;
use crate::store::{LoginCount, ModerationStore};

/// The logged-in account a request is served to. Extracting it from a
/// request without a live session answers with a 303 to `/login`.
pub struct Moderator {
    /// The account.
    pub name: AccountName,
    /// Its role.
    pub role: Role,
    /// The session's token hash (to end it).
    pub(crate) token_hash: [u8; 32],
    /// The session's CSRF token, put in every form.
    pub(crate) csrf: String,
}

impl std::fmt::Debug for Moderator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moderator")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Moderator {
    /// Refuses (403, nothing done) a form without this session's CSRF token.
    #[allow(
        clippy::result_large_err,
        reason = "the refusal is the response itself, made once per request"
    )]
    pub(crate) fn check_csrf(&self, form: &[(String, String)]) -> Result<(), Response> {
        let given = field(form, "csrf").unwrap_or("");
        if csrf_matches(&self.csrf, given) {
            Ok(())
        } else {
            tracing::warn!("post without a valid csrf token refused");
            Err(csrf_refused(Some(self)))
        }
    }

    /// An audit record by this account.
    pub(crate) fn record(
        &self,
        now_ms: u64,
        action: AuditAction,
        case: Option<&CaseId>,
        detail: serde_json::Value,
    ) -> NewAuditRecord {
        NewAuditRecord {
            time_ms: now_ms,
            actor: self.name.as_str().to_owned(),
            action,
            case: case.cloned(),
            detail: detail.to_string(),
        }
    }
}

fn csrf_refused(me: Option<&Moderator>) -> Response {
    pages::error_page(
        StatusCode::FORBIDDEN,
        me,
        "This form's security token is missing or wrong (reload the page and try again); nothing was done.",
    )
}

impl<S: ModerationStore> FromRequestParts<Arc<Service<S>>> for Moderator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service<S>>,
    ) -> Result<Self, Response> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).and_then(Token::from_hex) else {
            return Err(see_other("/login"));
        };
        let now = (service.clock)();
        let session = match service.store.session(&token.hash(), now).await {
            Ok(Some(session)) if session.expires_at_ms > now => session,
            Ok(_) => return Err(see_other("/login")),
            Err(e) => return Err(store_failed(&e, None)),
        };
        let account = match service.store.account(&session.account).await {
            Ok(Some(account)) => account,
            Ok(None) => return Err(see_other("/login")),
            Err(e) => return Err(store_failed(&e, None)),
        };
        tracing::Span::current().record("account", account.name.as_str());
        Ok(Self {
            name: account.name,
            role: account.role,
            token_hash: session.token_hash,
            csrf: token.csrf(CSRF_LABEL),
        })
    }
}

/// The login form's token from the `fuin_login` cookie, or a new one with
/// the cookie that sets it.
fn login_token(headers: &HeaderMap, secure: bool) -> (Token, Option<String>) {
    match cookie(headers, LOGIN_COOKIE).and_then(Token::from_hex) {
        Some(token) => (token, None),
        None => {
            let token = Token::generate();
            let set = set_cookie(LOGIN_COOKIE, &token.to_hex(), SESSION_MS / 1000, secure);
            (token, Some(set))
        }
    }
}

fn login_response(
    status: StatusCode,
    token: &Token,
    set: Option<String>,
    error: Option<&'static str>,
) -> Response {
    let page = pages::login_page(&token.csrf(LOGIN_CSRF_LABEL), error);
    let mut response = (status, page).into_response();
    if let Some(set) = set.and_then(|s| s.parse().ok()) {
        response.headers_mut().insert(header::SET_COOKIE, set);
    }
    response
}

/// `GET /login`.
pub(crate) async fn login_page<S: ModerationStore>(
    State(service): State<Arc<Service<S>>>,
    headers: HeaderMap,
) -> Response {
    let (token, set) = login_token(&headers, service.secure_cookies);
    login_response(StatusCode::OK, &token, set, None)
}

/// What a failed login shows for a wrong name or a wrong password alike.
const WRONG_LOGIN: &str = "Wrong account name or password.";
/// What a login to a locked account shows.
const LOCKED_LOGIN: &str = "This account is locked after too many failed logins; try again later.";

/// `POST /login`.
pub(crate) async fn login<S: ModerationStore>(
    State(service): State<Arc<Service<S>>>,
    headers: HeaderMap,
    Form(mut form): Form<Vec<(String, String)>>,
) -> Response {
    // The password leaves the form into a buffer wiped when dropped.
    let password = Zeroizing::new(
        form.iter()
            .position(|(key, _)| key == "password")
            .map(|at| form.swap_remove(at).1)
            .unwrap_or_default(),
    );
    let Some(token) = cookie(&headers, LOGIN_COOKIE).and_then(Token::from_hex) else {
        return csrf_refused(None);
    };
    if !csrf_matches(
        &token.csrf(LOGIN_CSRF_LABEL),
        field(&form, "csrf").unwrap_or(""),
    ) {
        return csrf_refused(None);
    }
    let failed = |error| login_response(StatusCode::UNAUTHORIZED, &token, None, Some(error));

    let name = AccountName::new(field(&form, "account").unwrap_or("").trim());
    let account = match &name {
        Ok(name) => match service.store.account(name).await {
            Ok(account) => account,
            Err(e) => return store_failed(&e, None),
        },
        Err(_) => None,
    };
    let Some(account) = account else {
        let _ = tokio::task::spawn_blocking(move || verify_against_dummy(&password)).await;
        return failed(WRONG_LOGIN);
    };
    let now = (service.clock)();
    let stored = account.password_hash.clone();
    let right = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .unwrap_or(false);
    if account.locked_until_ms.is_some_and(|until| until > now) {
        return failed(LOCKED_LOGIN);
    }
    if !right {
        // A lock that has run out is forgotten, and the count starts over.
        let before = if account.locked_until_ms.is_some() {
            0
        } else {
            account.failed_logins
        };
        let audit = NewAuditRecord {
            time_ms: now,
            actor: account.name.as_str().to_owned(),
            action: AuditAction::LoginFailed,
            case: None,
            detail: serde_json::json!({ "failures": before.saturating_add(1) }).to_string(),
        };
        return match service
            .store
            .record_login_failure(&account.name, now, service.lockout, audit)
            .await
        {
            Ok(LoginCount::Counted { .. }) => failed(WRONG_LOGIN),
            Ok(LoginCount::Locked { .. }) => failed(LOCKED_LOGIN),
            Err(e) => store_failed(&e, None),
        };
    }

    // A new session on every login: a token planted before login is never
    // promoted.
    let session_token = Token::generate();
    let session = Session {
        token_hash: session_token.hash(),
        account: account.name.clone(),
        created_at_ms: now,
        expires_at_ms: now.saturating_add(SESSION_MS),
    };
    let audit = NewAuditRecord {
        time_ms: now,
        actor: account.name.as_str().to_owned(),
        action: AuditAction::Login,
        case: None,
        detail: "{}".to_owned(),
    };
    if let Err(e) = service.store.record_login(session, audit).await {
        return store_failed(&e, None);
    }
    tracing::info!(account = account.name.as_str(), "login");
    let mut response = see_other("/cases");
    let secure = service.secure_cookies;
    let cookies = [
        set_cookie(
            SESSION_COOKIE,
            &session_token.to_hex(),
            SESSION_MS / 1000,
            secure,
        ),
        set_cookie(LOGIN_COOKIE, "", 0, secure),
    ];
    for set in cookies {
        if let Ok(value) = set.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `POST /logout`: ends the session.
pub(crate) async fn logout<S: ModerationStore>(
    State(service): State<Arc<Service<S>>>,
    me: Moderator,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(refused) = me.check_csrf(&form) {
        return refused;
    }
    let now = (service.clock)();
    let audit = me.record(now, AuditAction::Logout, None, serde_json::json!({}));
    if let Err(e) = service.store.end_session(&me.token_hash, audit).await {
        return store_failed(&e, Some(&me));
    }
    let mut response = see_other("/login");
    if let Ok(value) = set_cookie(SESSION_COOKIE, "", 0, service.secure_cookies).parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
