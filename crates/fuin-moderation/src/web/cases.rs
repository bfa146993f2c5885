//! The pages that show: the queue, a case, a reported attachment, the
//! audit log.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html as HtmlResponse, IntoResponse, Response};

use super::pages::{self, Chrome, IMAGE_TYPES, QueueFilters};
use super::{Moderator, field, store_failed};
use crate::audit::{AuditAction, verify_chain};
use crate::model::{CaseFilter, CaseId, CaseStatus, ConversationKind};
use crate::service::Service;
use crate::store::ModerationStore;
use crate::vault::message_field;

/// What a `done=` code after a POST shows in `#flash`.
fn flash_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "assigned" => "The case is assigned to you.",
        "note" => "The note was added.",
        "action" => "The action was taken and the case is resolved.",
        "feedback" => "The outcome was sent to the reporter.",
        _ => return None,
    })
}

/// What an `error=` code after a POST shows in `#error`.
fn error_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "relay" => {
            "The relay refused the action or could not be reached; the case stays open (the action's result code is under Actions)."
        }
        "messenger" => {
            "The message could not be sent; nothing was resolved (the result code is under Actions)."
        }
        "no_messenger" => {
            "This service runs without a moderation account, so it cannot send messages; nothing was resolved."
        }
        _ => return None,
    })
}

/// `GET /cases`: the queue.
pub(crate) async fn queue<S: ModerationStore>(
    State(service): State<Arc<Service<S>>>,
    me: Moderator,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let status_text = field(&query, "status").unwrap_or("");
    let kind_text = field(&query, "kind").unwrap_or("");
    let reported = field(&query, "reported").unwrap_or("").trim();
    let mine = field(&query, "mine").is_some_and(|v| !v.is_empty());
    let filter = CaseFilter {
        status: CaseStatus::parse(status_text),
        assignee: mine.then(|| me.name.clone()),
        reported_user: (!reported.is_empty()).then(|| reported.to_owned()),
        kind: ConversationKind::parse(kind_text),
        limit: 0,
    };
    let cases = match service.store.cases(&filter).await {
        Ok(cases) => cases,
        Err(e) => return store_failed(&e, Some(&me)),
    };
    let shown = QueueFilters {
        status: filter.status.map_or("", CaseStatus::as_str),
        kind: filter.kind.map_or("", ConversationKind::as_str),
        reported,
        mine,
    };
    let chrome = Chrome {
        me: Some(&me),
        flash: None,
        error: None,
    };
    HtmlResponse(pages::queue_page(&chrome, &shown, &cases)).into_response()
}

fn no_such_case(me: &Moderator) -> Response {
    pages::error_page(StatusCode::NOT_FOUND, Some(me), "There is no such case.")
}

/// `GET /cases/{id}`: shows the case and records that it was viewed.
pub(crate) async fn case_page<S: ModerationStore>(
    State(service): State<Arc<Service<S>>>,
    me: Moderator,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let Some(id) = CaseId::parse(&id) else {
        return no_such_case(&me);
    };
    let case = match service.store.case(&id).await {
        Ok(Some(case)) => case,
        Ok(None) => return no_such_case(&me),
        Err(e) => return store_failed(&e, Some(&me)),
    };
    let now = (service.clock)();
    let viewed = me.record(
        now,
        AuditAction::CaseViewed,
        Some(&id),
        serde_json::json!({}),
    );
    if let Err(e) = service.store.record(viewed).await {
        return store_failed(&e, Some(&me));
    }
    let trail = match service.store.case_audit(&id).await {
        Ok(trail) => trail,
        Err(e) => return store_failed(&e, Some(&me)),
    };
    let chrome = Chrome {
        me: Some(&me),
        flash: field(&query, "done").and_then(flash_text),
        error: field(&query, "error").and_then(error_text),
    };
    HtmlResponse(pages::case_page(
        &chrome,
        &me,
        &service.vault,
        &case,
        &trail,
    ))
    .into_response()
}

/// `GET /cases/{id}/messages/{index}/attachment`: a verified attachment's
/// bytes, as its type only for the image types the console shows, else as a
/// download; records that it was viewed.
pub(crate) async fn attachment<S: ModerationStore>(
    State(service): State<Arc<Service<S>>>,
    me: Moderator,
    Path((id, index)): Path<(String, String)>,
) -> Response {
    let (Some(id), Ok(index)) = (CaseId::parse(&id), index.parse::<u32>()) else {
        return no_such_case(&me);
    };
    let case = match service.store.case(&id).await {
        Ok(Some(case)) => case,
        Ok(None) => return no_such_case(&me),
        Err(e) => return store_failed(&e, Some(&me)),
    };
    let found = case
        .messages
        .iter()
        .find(|m| m.index == index)
        .and_then(|m| m.attachment.as_ref())
        .filter(|a| a.status == "verified")
        .and_then(|a| a.bytes.as_ref().map(|bytes| (a.media_type.clone(), bytes)));
    let Some((media_type, sealed)) = found else {
        return pages::error_page(
            StatusCode::NOT_FOUND,
            Some(&me),
            "This message has no verified attachment.",
        );
    };
    let Ok(bytes) = service
        .vault
        .open(&id, &message_field(index, "attachment"), sealed)
    else {
        return pages::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(&me),
            "The attachment cannot be opened with the vault key.",
        );
    };
    let now = (service.clock)();
    let viewed = me.record(
        now,
        AuditAction::AttachmentViewed,
        Some(&id),
        serde_json::json!({ "message": index }),
    );
    if let Err(e) = service.store.record(viewed).await {
        return store_failed(&e, Some(&me));
    }
    let image = IMAGE_TYPES.contains(&media_type.as_str());
    let mut response = bytes.to_vec().into_response();
    let headers = response.headers_mut();
    if image {
        if let Ok(value) = HeaderValue::from_str(&media_type) {
            headers.insert(header::CONTENT_TYPE, value);
        }
    } else {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
    }
    response
}

/// `GET /audit`: the whole log, verified.
pub(crate) async fn audit_page<S: ModerationStore>(
    State(service): State<Arc<Service<S>>>,
    me: Moderator,
) -> Response {
    let records = match service.store.audit_log().await {
        Ok(records) => records,
        Err(e) => return store_failed(&e, Some(&me)),
    };
    let verified = verify_chain(&records);
    let chrome = Chrome {
        me: Some(&me),
        flash: None,
        error: None,
    };
    HtmlResponse(pages::audit_page(&chrome, &records, &verified)).into_response()
}
