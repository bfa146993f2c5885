//! What moderators do to a case: assign it to themselves, add a note, take
//! an action (dismiss, warn, suspend the account, remove a device), and send
//! the outcome to the reporter. Each POST checks the CSRF token first, then
//! the role, then acts, and answers with a 303 back to the case
//! (post/redirect/get) whose query holds only a fixed code for `#flash` or
//! `#error`.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use zeroize::Zeroizing;

use super::time::date;
use super::{Moderator, field, pages, see_other, store_failed};
use crate::audit::AuditAction;
use crate::model::{ActionKind, ActionRecord, CaseDetail, CaseId, CaseStatus, Role};
use crate::service::Service;
use crate::store::{ModerationStore, StoreError};
use crate::vault::note_field;

/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;

/// The text a warned user receives from moderation's account.
pub const WARNING_TEXT: &str = "This is a warning from the moderation team: a message you sent was reported, and we found that it breaks the rules of this service. Further reports may lead to your account being suspended.";

type Posted = Form<Vec<(String, String)>>;

fn back_to(id: &CaseId, query: &str) -> Response {
    see_other(&format!("/cases/{id}?{query}"))
}

/// Loads the case a POST is aimed at, after the CSRF check.
async fn posted_case<S: ModerationStore>(
    service: &Service<S>,
    me: &Moderator,
    id: &str,
    form: &[(String, String)],
) -> Result<CaseDetail, Response> {
    me.check_csrf(form)?;
    let Some(id) = CaseId::parse(id) else {
        return Err(pages::error_page(
            StatusCode::NOT_FOUND,
            Some(me),
            "There is no such case.",
        ));
    };
    match service.store.case(&id).await {
        Ok(Some(case)) => Ok(case),
        Ok(None) => Err(pages::error_page(
            StatusCode::NOT_FOUND,
            Some(me),
            "There is no such case.",
        )),
        Err(e) => Err(store_failed(&e, Some(me))),
    }
}

fn resolved_refusal(me: &Moderator) -> Response {
    pages::error_page(
        StatusCode::CONFLICT,
        Some(me),
        "The case is resolved and takes no more actions.",
    )
}

#[allow(
    clippy::result_large_err,
    reason = "the refusal is the response itself, made once per request"
)]
fn stored<T>(result: Result<T, StoreError>, me: &Moderator) -> Result<T, Response> {
    match result {
        Ok(value) => Ok(value),
        Err(StoreError::CaseResolved) => Err(resolved_refusal(me)),
        Err(e) => Err(store_failed(&e, Some(me))),
    }
}

/// `POST /cases/{id}/assign`: assigns the case to whoever asks.
pub(crate) async fn assign<S: ModerationStore>(
    State(service): State<Arc<Service<S>>>,
    me: Moderator,
    Path(id): Path<String>,
    Form(form): Posted,
) -> Response {
    let case = match posted_case(&service, &me, &id, &form).await {
        Ok(case) => case,
        Err(refused) => return refused,
    };
    let id = &case.summary.id;
    let now = (service.clock)();
    let audit = me.record(
        now,
        AuditAction::CaseAssigned,
        Some(id),
        serde_json::json!({ "assignee": me.name.as_str() }),
    );
    match stored(service.store.assign(id, &me.name, audit).await, &me) {
        Ok(()) => back_to(id, "done=assigned"),
        Err(refused) => refused,
    }
}

/// `POST /cases/{id}/notes`: a note, sealed; its audit record holds only
/// its length.
pub(crate) async fn add_note<S: ModerationStore>(
    State(service): State<Arc<Service<S>>>,
    me: Moderator,
    Path(id): Path<String>,
    Form(mut form): Posted,
) -> Response {
    let text = Zeroizing::new(
        form.iter()
            .position(|(key, _)| key == "text")
            .map(|at| form.swap_remove(at).1)
            .unwrap_or_default(),
    );
    let case = match posted_case(&service, &me, &id, &form).await {
        Ok(case) => case,
        Err(refused) => return refused,
    };
    let id = &case.summary.id;
    let chars = text.chars().count();
    if text.trim().is_empty() || chars > MAX_NOTE_CHARS {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            Some(&me),
            "A note has 1 to 4,000 characters; nothing was added.",
        );
    }
    let now = (service.clock)();
    let note = crate::model::Note {
        author: me.name.clone(),
        at_ms: now,
        text: service
            .vault
            .seal(id, &note_field(&me.name, now), text.as_bytes()),
    };
    let audit = me.record(
        now,
        AuditAction::NoteAdded,
        Some(id),
        serde_json::json!({ "length": chars }),
    );
    match service.store.add_note(id, note, audit).await {
        Ok(()) => back_to(id, "done=note"),
        // One note per author and millisecond (§13.2): this one is not kept.
        Err(StoreError::NoteExists) => pages::error_page(
            StatusCode::CONFLICT,
            Some(&me),
            "You added another note at this very moment; this one was not kept. Send it again.",
        ),
        Err(e) => store_failed(&e, Some(&me)),
    }
}

fn parse_action(form: &[(String, String)]) -> Option<ActionKind> {
    Some(match field(form, "action")? {
        "dismiss" => ActionKind::Dismiss,
        "warn" => ActionKind::Warn,
        "suspend_account" => ActionKind::SuspendAccount,
        "remove_device" => ActionKind::RemoveDevice(field(form, "device")?.trim().parse().ok()?),
        _ => return None,
    })
}

/// `POST /cases/{id}/actions`.
pub(crate) async fn take_action<S: ModerationStore>(
    State(service): State<Arc<Service<S>>>,
    me: Moderator,
    Path(id): Path<String>,
    Form(form): Posted,
) -> Response {
    let case = match posted_case(&service, &me, &id, &form).await {
        Ok(case) => case,
        Err(refused) => return refused,
    };
    let id = &case.summary.id;
    let Some(action) = parse_action(&form) else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            Some(&me),
            "Choose an action (and, to remove a device, its number); nothing was done.",
        );
    };
    let now = (service.clock)();
    if action.needs_lead() && me.role != Role::Lead {
        let audit = me.record(
            now,
            AuditAction::Forbidden,
            Some(id),
            serde_json::json!({ "action": action.code() }),
        );
        if let Err(e) = service.store.record(audit).await {
            return store_failed(&e, Some(&me));
        }
        tracing::warn!(
            action = action.code(),
            "action refused: needs the lead role"
        );
        return pages::error_page(
            StatusCode::FORBIDDEN,
            Some(&me),
            "Only a lead may suspend accounts or remove devices; nothing was done.",
        );
    }
    if case.summary.status == CaseStatus::Resolved {
        return resolved_refusal(&me);
    }
    let reported = case.summary.reported_user.clone();
    if reported.is_none() && action != ActionKind::Dismiss {
        return pages::error_page(
            StatusCode::CONFLICT,
            Some(&me),
            "This case names no reported user to act on; nothing was done.",
        );
    }
    let user = reported.unwrap_or_default();
    let target = match &action {
        ActionKind::RemoveDevice(device) => format!("{user}/{device}"),
        _ => user.clone(),
    };

    // Carry it out; `Err` holds the failure's code and the error to show.
    let outcome: Result<(), (String, &'static str)> = match &action {
        ActionKind::Dismiss => Ok(()),
        ActionKind::Warn => match &service.messenger {
            None => Err(("no_messenger".to_owned(), "no_messenger")),
            Some(messenger) => messenger
                .send_text(&user, WARNING_TEXT)
                .await
                .map_err(|e| (e.code, "messenger")),
        },
        ActionKind::SuspendAccount => service
            .admin
            .suspend(&user)
            .await
            .map_err(|e| (e.code, "relay")),
        ActionKind::RemoveDevice(device) => service
            .admin
            .remove_device(&user, *device)
            .await
            .map_err(|e| (e.code, "relay")),
    };
    let result = match &outcome {
        Ok(()) => "done".to_owned(),
        Err((code, _)) => code.clone(),
    };
    let resolve_with = outcome.is_ok().then(|| action.code());
    let audit = me.record(
        now,
        AuditAction::ActionTaken,
        Some(id),
        serde_json::json!({
            "action": action.code(),
            "target": target,
            "result": result,
            "resolved": resolve_with,
        }),
    );
    let record = ActionRecord {
        by: me.name.clone(),
        at_ms: now,
        action: action.code().to_owned(),
        target,
        result,
    };
    if let Err(refused) = stored(
        service
            .store
            .record_action(id, record, resolve_with, audit)
            .await,
        &me,
    ) {
        return refused;
    }
    match outcome {
        Ok(()) => back_to(id, "done=action"),
        Err((code, shown)) => {
            tracing::warn!(action = action.code(), code = %code, "action failed");
            back_to(id, &format!("error={shown}"))
        }
    }
}

/// What the reporter is told, per outcome: never any report content.
fn feedback_text(outcome: &str, reported_on: &str) -> String {
    let what = match outcome {
        "warn" => "We reviewed it and warned the account.",
        "suspend_account" => "We reviewed it and suspended the account.",
        "remove_device" => "We reviewed it and removed a device from the account.",
        _ => "We reviewed it and took no action against the account.",
    };
    format!("Thank you for your report of {reported_on}. {what}")
}

/// `POST /cases/{id}/feedback`: sends the outcome of a resolved case to the
/// reporting user, end to end, through moderation's account.
pub(crate) async fn send_feedback<S: ModerationStore>(
    State(service): State<Arc<Service<S>>>,
    me: Moderator,
    Path(id): Path<String>,
    Form(form): Posted,
) -> Response {
    let case = match posted_case(&service, &me, &id, &form).await {
        Ok(case) => case,
        Err(refused) => return refused,
    };
    let summary = &case.summary;
    let id = &summary.id;
    let (CaseStatus::Resolved, Some(outcome)) = (summary.status, &summary.outcome) else {
        return pages::error_page(
            StatusCode::CONFLICT,
            Some(&me),
            "The outcome can be sent once the case is resolved.",
        );
    };
    if case.feedback_sent_at_ms.is_some() {
        return pages::error_page(
            StatusCode::CONFLICT,
            Some(&me),
            "The outcome was already sent to the reporter.",
        );
    }
    let Some(messenger) = &service.messenger else {
        return back_to(id, "error=no_messenger");
    };
    let reporter_user = summary
        .reporter
        .rsplit_once('/')
        .map_or(summary.reporter.as_str(), |(user, _)| user);
    let text = feedback_text(outcome, &date(summary.received_at_ms));
    if let Err(e) = messenger.send_text(reporter_user, &text).await {
        tracing::warn!(code = %e.code, "feedback not sent");
        return back_to(id, "error=messenger");
    }
    let now = (service.clock)();
    let audit = me.record(
        now,
        AuditAction::FeedbackSent,
        Some(id),
        serde_json::json!({ "outcome": outcome }),
    );
    match stored(service.store.record_feedback(id, now, audit).await, &me) {
        Ok(()) => back_to(id, "done=feedback"),
        Err(refused) => refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_names_the_date_and_outcome_only() {
        assert_eq!(
            feedback_text("suspend_account", "2026-12-07"),
            "Thank you for your report of 2026-12-07. We reviewed it and suspended the account."
        );
        assert!(feedback_text("dismiss", "2026-12-07").contains("no action"));
    }

    #[test]
    fn actions_parse_from_the_form_and_a_device_must_be_a_number() {
        let form = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            parse_action(&form(&[("action", "warn")])),
            Some(ActionKind::Warn)
        );
        assert_eq!(
            parse_action(&form(&[("action", "remove_device"), ("device", " 7 ")])),
            Some(ActionKind::RemoveDevice(7))
        );
        assert_eq!(
            parse_action(&form(&[("action", "remove_device"), ("device", "x")])),
            None
        );
        assert_eq!(
            parse_action(&form(&[("action", "delete_everything")])),
            None
        );
        assert_eq!(parse_action(&form(&[])), None);
    }
}
