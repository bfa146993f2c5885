//! The console's templates. Each builds an [`Html`]: markup is literal,
//! every value goes through [`Html::text`] or [`Html::shown`].

use axum::http::StatusCode;
use axum::response::{Html as HtmlResponse, IntoResponse, Response};

use super::Moderator;
use super::html::Html;
use crate::audit::{AuditHead, AuditRecord, ChainBreak};
use crate::model::{CaseDetail, CaseMessage, CaseStatus, CaseSummary, Role};
use crate::vault::{Vault, message_field, note_field};

/// What a page shows around its content.
pub(crate) struct Chrome<'a> {
    pub me: Option<&'a Moderator>,
    pub flash: Option<&'static str>,
    pub error: Option<&'static str>,
}

/// A whole page: the document, the header with the account and logout, the
/// messages, and `body` in `main`.
pub(crate) fn layout(title: &'static str, chrome: &Chrome<'_>, body: Html) -> String {
    let mut page = Html::new();
    page.raw("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        .raw("<title>")
        .text(title)
        .raw(" · fuin moderation</title>")
        .raw("<link rel=\"stylesheet\" href=\"/static/console.css\">")
        .raw("<script src=\"/static/console.js\" defer></script></head><body>")
        .raw("<a class=\"skip\" href=\"#main\">Skip to content</a>")
        .raw("<header class=\"top\"><p class=\"brand\">fuin moderation</p>");
    if let Some(me) = chrome.me {
        page.raw("<nav aria-label=\"Console\"><ul><li><a href=\"/cases\">Cases</a></li>")
            .raw("<li><a href=\"/audit\">Audit log</a></li></ul></nav>")
            .raw("<p id=\"whoami\">Signed in as <strong>")
            .text(me.name.as_str())
            .raw("</strong> (")
            .text(me.role.as_str())
            .raw(")</p><form id=\"logout-form\" method=\"post\" action=\"/logout\">");
        csrf_field(&mut page, me);
        page.raw("<button id=\"logout\" type=\"submit\">Log out</button></form>");
    }
    page.raw("</header><main id=\"main\">");
    if let Some(flash) = chrome.flash {
        page.raw("<p id=\"flash\" role=\"status\">")
            .text(flash)
            .raw("</p>");
    }
    if let Some(error) = chrome.error {
        page.raw("<p id=\"error\" role=\"alert\">")
            .text(error)
            .raw("</p>");
    }
    page.html(body).raw("</main></body></html>\n");
    page.into_string()
}

fn csrf_field(page: &mut Html, me: &Moderator) {
    page.raw("<input type=\"hidden\" name=\"csrf\" value=\"")
        .text(&me.csrf)
        .raw("\">");
}

/// A page that only says what went wrong (`#error`).
pub(crate) fn error_page(
    status: StatusCode,
    me: Option<&Moderator>,
    message: &'static str,
) -> Response {
    let mut body = Html::new();
    body.raw("<h1>")
        .text(status.canonical_reason().unwrap_or("Error"))
        .raw("</h1><p><a href=\"/cases\">Back to the cases</a></p>");
    let chrome = Chrome {
        me,
        flash: None,
        error: Some(message),
    };
    (status, HtmlResponse(layout("Error", &chrome, body))).into_response()
}

/// The login page.
pub(crate) fn login_page(csrf: &str, error: Option<&'static str>) -> HtmlResponse<String> {
    let mut body = Html::new();
    body.raw("<h1>Log in</h1>");
    if let Some(error) = error {
        body.raw("<p id=\"login-error\" role=\"alert\">")
            .text(error)
            .raw("</p>");
    }
    body.raw("<form id=\"login-form\" class=\"stack\" method=\"post\" action=\"/login\">")
        .raw("<input type=\"hidden\" name=\"csrf\" value=\"")
        .text(csrf)
        .raw("\"><label for=\"account\">Account</label>")
        .raw("<input id=\"account\" name=\"account\" autocomplete=\"username\" required>")
        .raw("<label for=\"password\">Password</label>")
        .raw("<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>")
        .raw("<button id=\"login-submit\" type=\"submit\">Log in</button></form>");
    let chrome = Chrome {
        me: None,
        flash: None,
        error: None,
    };
    HtmlResponse(layout("Log in", &chrome, body))
}

/// The queue's filters, as the form shows them back.
pub(crate) struct QueueFilters<'a> {
    pub status: &'a str,
    pub kind: &'a str,
    pub reported: &'a str,
    pub mine: bool,
}

fn select(
    page: &mut Html,
    id: &'static str,
    name: &'static str,
    label: &'static str,
    options: &[(&'static str, &'static str)],
    chosen: &str,
) {
    page.raw("<div class=\"field\"><label for=\"")
        .raw(id)
        .raw("\">")
        .raw(label)
        .raw("</label><select id=\"")
        .raw(id)
        .raw("\" name=\"")
        .raw(name)
        .raw("\">");
    for (value, words) in options {
        page.raw("<option value=\"").raw(value).raw("\"");
        if *value == chosen {
            page.raw(" selected");
        }
        page.raw(">").raw(words).raw("</option>");
    }
    page.raw("</select></div>");
}

/// The queue (`/cases`).
pub(crate) fn queue_page(
    chrome: &Chrome<'_>,
    filters: &QueueFilters<'_>,
    cases: &[CaseSummary],
) -> String {
    let mut body = Html::new();
    body.raw(
        "<h1>Cases</h1><form id=\"filters\" class=\"filters\" method=\"get\" action=\"/cases\">",
    );
    select(
        &mut body,
        "filter-status",
        "status",
        "Status",
        &[
            ("", "any"),
            ("new", "new"),
            ("assigned", "assigned"),
            ("resolved", "resolved"),
        ],
        filters.status,
    );
    select(
        &mut body,
        "filter-kind",
        "kind",
        "Conversation",
        &[("", "any"), ("direct", "direct (1:1)"), ("group", "group")],
        filters.kind,
    );
    body.raw("<div class=\"field\"><label for=\"filter-reported\">Reported user</label>")
        .raw("<input id=\"filter-reported\" name=\"reported\" value=\"")
        .text(filters.reported)
        .raw("\"></div><div class=\"field check\"><input id=\"filter-mine\" type=\"checkbox\" name=\"mine\" value=\"on\"");
    if filters.mine {
        body.raw(" checked");
    }
    body.raw("><label for=\"filter-mine\">Only cases assigned to me</label></div>")
        .raw("<button type=\"submit\">Filter</button></form>");
    body.raw("<table id=\"queue\"><caption>")
        .num(cases.len() as u64)
        .raw(" cases, newest first</caption><thead><tr>")
        .raw("<th scope=\"col\">Case</th><th scope=\"col\">Status</th><th scope=\"col\">Conversation</th>")
        .raw("<th scope=\"col\">Reported user</th><th scope=\"col\">Reporter</th><th scope=\"col\">Received (UTC)</th>")
        .raw("<th scope=\"col\">Verified</th><th scope=\"col\">Repeated</th><th scope=\"col\">Rejected</th>")
        .raw("<th scope=\"col\">Assignee</th></tr></thead><tbody>");
    for case in cases {
        body.raw("<tr class=\"case-row\" data-case-id=\"")
            .text(&case.id.0)
            .raw("\"><td><a class=\"case-link\" href=\"/cases/")
            .text(&case.id.0)
            .raw("\">")
            .text(case.id.0.get(..8).unwrap_or(&case.id.0))
            .raw("</a></td><td class=\"case-status\">")
            .text(case.status.as_str())
            .raw("</td><td>")
            .text(case.kind.as_str())
            .raw("</td><td>")
            .shown(case.reported_user.as_deref().unwrap_or("(unknown)"))
            .raw("</td><td>")
            .shown(&case.reporter)
            .raw("</td><td>")
            .time(case.received_at_ms)
            .raw("</td><td>")
            .num(u64::from(case.verified))
            .raw("</td><td>")
            .num(u64::from(case.duplicates))
            .raw("</td><td>")
            .num(u64::from(case.rejected))
            .raw("</td><td>")
            .text(case.assignee.as_ref().map_or("", |a| a.as_str()))
            .raw("</td></tr>");
    }
    body.raw("</tbody></table>");
    if cases.is_empty() {
        body.raw("<p class=\"empty\">No case matches these filters.</p>");
    }
    layout("Cases", chrome, body)
}

/// What a rejection code means, in words (`fuin_report::Rejection`).
fn rejection_words(code: &str) -> Option<&'static str> {
    Some(match code {
        "not_addressed_to_reporter" => "it was not delivered to the device that reports it",
        "not_in_conversation" => "its sender is not in the reported conversation",
        "franking_key_length" => "its franking key has the wrong length",
        "commitment_mismatch" => "its content is not what the sender committed to",
        "unknown_stamp_key" => "its stamp names a relay key moderation does not hold",
        "expired_stamp_key" => "its stamp's relay key had expired",
        "stamp_mismatch" => "the relay did not stamp it so",
        "not_in_group" => "it is not a message of the reported group",
        "chain_signature_mismatch" => "its sender chain's signature does not verify",
        _ => return None,
    })
}

fn verdict(page: &mut Html, message: &CaseMessage) {
    page.raw("<p class=\"verdict\">");
    match message.verdict.as_str() {
        "verified" => {
            page.raw("Verified: the sender sent this, and the relay delivered it to the reporter.");
        }
        "duplicate" => {
            page.raw(
                "Verified, and counted before: the reporter reported this same message already.",
            );
        }
        _ => {
            page.raw("Not verified: ");
            match rejection_words(&message.rejection) {
                Some(words) => page.text(words),
                None => page
                    .raw("an unknown check failed (")
                    .text(&message.rejection)
                    .raw(")"),
            };
            page.raw(".");
        }
    }
    page.raw("</p>");
}

/// Media types served as themselves (and shown blurred on the case page).
pub(crate) const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

const UNOPENABLE: &str = "(cannot be opened)";

fn sealed_text(
    page: &mut Html,
    vault: &Vault,
    case: &CaseDetail,
    field: &str,
    sealed: &crate::model::Sealed,
) {
    match vault.open_text(&case.summary.id, field, sealed) {
        Ok(text) => {
            page.shown(&text);
        }
        Err(_) => {
            page.raw("<span class=\"unopenable\">")
                .text(UNOPENABLE)
                .raw("</span>");
        }
    }
}

fn attachment(page: &mut Html, vault: &Vault, case: &CaseDetail, message: &CaseMessage) {
    let Some(attachment) = &message.attachment else {
        return;
    };
    let verified = attachment.status == "verified";
    let name_field = message_field(message.index, "file-name");
    if verified
        && attachment.bytes.is_some()
        && IMAGE_TYPES.contains(&attachment.media_type.as_str())
    {
        page.raw("<figure class=\"attachment\"><img class=\"blurred\" src=\"/cases/")
            .text(&case.summary.id.0)
            .raw("/messages/")
            .num(u64::from(message.index))
            .raw("/attachment\" alt=\"Reported image, blurred until shown\"><figcaption>");
        sealed_text(page, vault, case, &name_field, &attachment.file_name);
        page.raw(" · ")
            .text(&attachment.media_type)
            .raw(" · ")
            .num(attachment.size)
            .raw(" bytes · verified <button type=\"button\" class=\"reveal\">Show the image</button></figcaption></figure>");
    } else {
        page.raw("<div class=\"attachment-info\"><p>Attachment: <span class=\"file-name\">");
        sealed_text(page, vault, case, &name_field, &attachment.file_name);
        page.raw("</span> · ")
            .text(&attachment.media_type)
            .raw(" · ")
            .num(attachment.size)
            .raw(" bytes · ");
        if verified {
            page.raw("verified: it is what the sender sent");
        } else {
            page.raw("not verified (").text(&attachment.status).raw(")");
        }
        page.raw("</p></div>");
    }
}

fn outcome_words(outcome: &str) -> &'static str {
    match outcome {
        "dismiss" => "dismissed",
        "warn" => "the reported user was warned",
        "suspend_account" => "the reported account was suspended",
        "remove_device" => "a device of the reported user was removed",
        _ => "resolved",
    }
}

/// The case page (`/cases/{id}`).
pub(crate) fn case_page(
    chrome: &Chrome<'_>,
    me: &Moderator,
    vault: &Vault,
    case: &CaseDetail,
    trail: &[AuditRecord],
) -> String {
    let summary = &case.summary;
    let id = &summary.id.0;
    let mut body = Html::new();
    body.raw("<h1>Case <span class=\"case-id\">")
        .text(id)
        .raw("</span></h1>");
    body.raw("<section aria-labelledby=\"h-report\"><h2 id=\"h-report\">The report</h2><dl class=\"facts\">")
        .raw("<dt>Status</dt><dd id=\"case-status\">")
        .text(summary.status.as_str());
    if let Some(assignee) = &summary.assignee {
        body.raw(" (assigned to ").text(assignee.as_str()).raw(")");
    }
    if let Some(outcome) = &summary.outcome {
        body.raw(": ").text(outcome_words(outcome));
    }
    body.raw("</dd><dt>Reason</dt><dd id=\"case-reason\" class=\"content\">");
    sealed_text(&mut body, vault, case, "reason", &case.reason);
    body.raw("</dd><dt>Reporter</dt><dd id=\"case-reporter\">")
        .shown(&summary.reporter)
        .raw("</dd><dt>Reported account</dt><dd id=\"case-reported\">")
        .shown(summary.reported_user.as_deref().unwrap_or("(unknown)"))
        .raw("</dd><dt>Conversation</dt><dd id=\"case-kind\">")
        .text(summary.kind.as_str());
    if let Some(group) = &case.group {
        body.raw(" (group ").text(group).raw(")");
    }
    body.raw("</dd><dt>Times (UTC)</dt><dd id=\"case-times\">Made by the reporter's device ")
        .time(case.created_at_ms)
        .raw(" (its clock) · received by the relay ")
        .time(summary.received_at_ms)
        .raw(" · opened ")
        .time(summary.opened_at_ms)
        .raw("</dd><dt>Sealing</dt><dd>");
    if case.post_quantum {
        body.raw("hybrid (post-quantum)");
    } else {
        body.raw("classical");
    }
    body.raw("</dd></dl></section>");

    body.raw("<section aria-labelledby=\"h-messages\"><h2 id=\"h-messages\">Reported messages</h2><ol class=\"messages\">");
    for message in &case.messages {
        body.raw("<li class=\"message\" data-index=\"")
            .num(u64::from(message.index))
            .raw("\" data-verdict=\"")
            .text(&message.verdict)
            .raw("\"><p class=\"message-meta\">From <span class=\"sender\">")
            .shown(&message.sender)
            .raw("</span> to <span class=\"recipient\">")
            .shown(&message.recipient)
            .raw("</span> · ")
            .text(&message.content_type)
            .raw(" · relay time ")
            .time(message.server_time_ms)
            .raw("</p>");
        verdict(&mut body, message);
        body.raw("<div class=\"message-text content\">");
        let field = message_field(message.index, "text");
        sealed_text(&mut body, vault, case, &field, &message.text);
        body.raw("</div>");
        attachment(&mut body, vault, case, message);
        body.raw("</li>");
    }
    body.raw("</ol></section>");

    body.raw("<section aria-labelledby=\"h-work\"><h2 id=\"h-work\">Work on the case</h2>");
    if summary.status != CaseStatus::Resolved {
        body.raw("<form id=\"assign-form\" method=\"post\" action=\"/cases/")
            .text(id)
            .raw("/assign\">");
        csrf_field(&mut body, me);
        body.raw("<button id=\"assign-me\" type=\"submit\">Assign to me</button></form>");

        body.raw("<form id=\"action-form\" class=\"stack\" method=\"post\" action=\"/cases/")
            .text(id)
            .raw("/actions\">");
        csrf_field(&mut body, me);
        body.raw("<label for=\"action\">Action</label><select id=\"action\" name=\"action\">")
            .raw("<option value=\"dismiss\">Dismiss (nothing wrong)</option>")
            .raw("<option value=\"warn\">Warn the reported user</option>")
            .raw("<option value=\"suspend_account\">Suspend the reported account (lead)</option>")
            .raw("<option value=\"remove_device\">Remove a device of the reported user (lead)</option>")
            .raw("</select><label for=\"device\">Device id (to remove a device)</label>")
            .raw("<input id=\"device\" name=\"device\" inputmode=\"numeric\" pattern=\"[0-9]*\">")
            .raw("<button id=\"action-submit\" type=\"submit\">Take the action</button></form>");
        if me.role != Role::Lead {
            body.raw("<p class=\"hint\">Suspending and removing devices need the lead role.</p>");
        }
    } else if case.feedback_sent_at_ms.is_none() {
        body.raw("<form id=\"feedback-form\" method=\"post\" action=\"/cases/")
            .text(id)
            .raw("/feedback\">");
        csrf_field(&mut body, me);
        body.raw("<button id=\"feedback-submit\" type=\"submit\">Tell the reporter the outcome</button></form>");
    }
    if let Some(at) = case.feedback_sent_at_ms {
        body.raw("<p class=\"feedback-sent\">The outcome was sent to the reporter ")
            .time(at)
            .raw(".</p>");
    }
    body.raw("<form id=\"note-form\" class=\"stack\" method=\"post\" action=\"/cases/")
        .text(id)
        .raw("/notes\">");
    csrf_field(&mut body, me);
    body.raw("<label for=\"note-text\">Note</label><textarea id=\"note-text\" name=\"text\" maxlength=\"4000\" rows=\"3\" required></textarea>")
        .raw("<button id=\"note-submit\" type=\"submit\">Add the note</button></form></section>");

    body.raw("<section aria-labelledby=\"h-notes\"><h2 id=\"h-notes\">Notes</h2><ul id=\"notes\">");
    for note in &case.notes {
        body.raw("<li><span class=\"author\">")
            .text(note.author.as_str())
            .raw("</span> ")
            .time(note.at_ms)
            .raw("<div class=\"note-text content\">");
        sealed_text(
            &mut body,
            vault,
            case,
            &note_field(&note.author, note.at_ms),
            &note.text,
        );
        body.raw("</div></li>");
    }
    body.raw("</ul>");
    if case.notes.is_empty() {
        body.raw("<p class=\"empty\">No note yet.</p>");
    }
    body.raw("</section>");

    body.raw("<section aria-labelledby=\"h-actions\"><h2 id=\"h-actions\">Actions</h2><ul id=\"actions\">");
    for action in &case.actions {
        body.raw("<li><span class=\"actor\">")
            .text(action.by.as_str())
            .raw("</span> <span class=\"action\">")
            .text(&action.action)
            .raw("</span> on <span class=\"target\">")
            .shown(&action.target)
            .raw("</span>: <span class=\"result\">")
            .text(&action.result)
            .raw("</span> ")
            .time(action.at_ms)
            .raw("</li>");
    }
    body.raw("</ul>");
    if case.actions.is_empty() {
        body.raw("<p class=\"empty\">No action yet.</p>");
    }
    body.raw("</section>");

    body.raw("<section aria-labelledby=\"h-trail\"><h2 id=\"h-trail\">Audit trail of this case</h2><ul id=\"case-audit\">");
    for record in trail {
        body.raw("<li><span class=\"actor\">")
            .text(&record.actor)
            .raw("</span> <span class=\"action\">")
            .text(&record.action)
            .raw("</span> ")
            .time(record.time_ms)
            .raw("</li>");
    }
    body.raw("</ul></section>");
    layout("Case", chrome, body)
}

/// The audit page (`/audit`).
pub(crate) fn audit_page(
    chrome: &Chrome<'_>,
    records: &[AuditRecord],
    verified: &Result<AuditHead, ChainBreak>,
) -> String {
    let mut body = Html::new();
    body.raw("<h1>Audit log</h1>");
    match verified {
        Ok(head) => {
            body.raw("<p id=\"audit-status\" data-verified=\"true\" class=\"ok\">The chain verifies. Head: <code>")
                .text(&head.to_string())
                .raw("</code></p>");
        }
        Err(broken) => {
            // A broken log has no head (§13.3): the place and the check that
            // failed are shown instead.
            body.raw("<p id=\"audit-status\" data-verified=\"false\" class=\"broken\">The chain is broken: ")
                .text(&broken.to_string())
                .raw(" (check <code>")
                .text(broken.why)
                .raw("</code>).</p>");
        }
    }
    body.raw("<p class=\"hint\">Keep a copy of the head elsewhere: records cut from the end leave a shorter chain that still verifies.</p>")
        .raw("<table id=\"audit-log\"><caption>Every record, oldest first</caption><thead><tr>")
        .raw("<th scope=\"col\">#</th><th scope=\"col\">Time (UTC)</th><th scope=\"col\">Actor</th>")
        .raw("<th scope=\"col\">Action</th><th scope=\"col\">Case</th><th scope=\"col\">Detail</th></tr></thead><tbody>");
    for record in records {
        body.raw("<tr class=\"audit-record\"><td class=\"seq\">")
            .num(record.seq)
            .raw("</td><td>")
            .time(record.time_ms)
            .raw("</td><td class=\"actor\">")
            .text(&record.actor)
            .raw("</td><td class=\"action\">")
            .text(&record.action)
            .raw("</td><td class=\"case\">");
        if !record.case.is_empty() {
            body.raw("<a href=\"/cases/")
                .text(&record.case)
                .raw("\">")
                .text(record.case.get(..8).unwrap_or(&record.case))
                .raw("</a>");
        }
        body.raw("</td><td class=\"detail\"><code>")
            .shown(&record.detail)
            .raw("</code></td></tr>");
    }
    body.raw("</tbody></table>");
    layout("Audit log", chrome, body)
}
