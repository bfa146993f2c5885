//! The console over HTTP: accounts and sessions, CSRF and Origin checks,
//! lockout, roles, actions through fake relay admin and messenger, and the
//! safety of every page (escaping, hidden characters, headers, URLs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "web/harness.rs"]
mod harness;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use harness::*;

#[tokio::test]
async fn a_login_sets_a_strict_http_only_session_cookie_and_a_new_session_each_time() {
    let console = Console::new().await;
    let reply = console.try_login("mo", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/cases");
    let cookies = reply.set_cookies();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("fuin_session="))
        .unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(
            session.split("; ").any(|part| part == flag),
            "{flag} missing in {session}"
        );
    }
    assert!(!session.contains("Secure"), "tests serve over plain http");
    let token = cookie_value(&cookies, "fuin_session").unwrap();
    assert_eq!(token.len(), 64);

    let again = console.try_login("mo", PASSWORD).await;
    let second = cookie_value(&again.set_cookies(), "fuin_session").unwrap();
    assert_ne!(token, second, "every login makes a new session");

    // Both sessions are live and show who is logged in.
    for token in [token, second] {
        let page = console
            .get("/cases", Some(&format!("fuin_session={token}")))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("id=\"whoami\""));
        assert!(page.body.contains("<strong>mo</strong> (moderator)"));
    }
    assert_eq!(
        console
            .audit_actions()
            .await
            .iter()
            .filter(|a| *a == "login")
            .count(),
        2
    );
}

#[tokio::test]
async fn secure_cookies_are_marked_secure() {
    let dir = tempfile::tempdir().unwrap();
    let service = Arc::new(Service {
        store: new_store(dir.path()),
        vault: Vault::generate(),
        admin: Arc::new(FakeAdmin::default()),
        messenger: None,
        clock: Arc::new(|| T0),
        lockout: LockoutPolicy::default(),
        secure_cookies: true,
    });
    let app = router(service);
    let response = app
        .oneshot(Request::get("/login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let set = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(set.starts_with("fuin_login="));
    assert!(set.ends_with("; Secure"), "{set}");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_name_show_the_same_error() {
    let console = Console::new().await;
    let wrong_password = console.try_login("mo", "not the password at all").await;
    let unknown_name = console.try_login("nobody", PASSWORD).await;
    let bad_name = console.try_login("<Not A Name>", PASSWORD).await;
    for reply in [&wrong_password, &unknown_name, &bad_name] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(cookie_value(&reply.set_cookies(), "fuin_session").is_none());
        assert!(reply.body.contains("id=\"login-error\" role=\"alert\""));
    }
    let error = |body: &str| {
        let at = body.find("id=\"login-error\"").unwrap();
        body[at..].split("</p>").next().unwrap().to_owned()
    };
    assert_eq!(error(&wrong_password.body), error(&unknown_name.body));
    assert_eq!(error(&wrong_password.body), error(&bad_name.body));
    assert!(
        !unknown_name.body.contains("nobody"),
        "the name typed is not echoed"
    );
    // Only the existing account's failure is recorded (names typed are free text).
    let actions = console.audit_actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "login_failed").count(), 1);
}

#[tokio::test]
async fn five_failures_lock_the_account_until_the_lock_ends() {
    let console = Console::new().await;
    for attempt in 1..=5 {
        let reply = console.try_login("mo", "wrong password number").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            reply.body.contains("locked"),
            attempt == 5,
            "attempt {attempt}"
        );
    }
    let account = console
        .service
        .store
        .account(&AccountName::new("mo").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.locked_until_ms, Some(T0 + 15 * 60 * 1000));

    // The right password is refused while the lock lasts.
    console.now.store(T0 + 15 * 60 * 1000 - 1, Ordering::SeqCst);
    let refused = console.try_login("mo", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains("locked"));
    assert!(cookie_value(&refused.set_cookies(), "fuin_session").is_none());

    // Once it ends, the right password works.
    console.now.store(T0 + 15 * 60 * 1000, Ordering::SeqCst);
    let browser = console.login("mo").await;
    assert!(!browser.cookie.is_empty());
    let actions = console.audit_actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "login_failed").count(), 5);
    assert_eq!(actions.iter().filter(|a| *a == "locked_out").count(), 1);
    assert_eq!(actions.last().map(String::as_str), Some("login"));
}

#[tokio::test]
async fn every_page_but_login_and_static_sends_a_stranger_to_login() {
    let console = Console::new().await;
    let id = console.plain_case(1).await;
    for path in [
        "/".to_owned(),
        "/cases".to_owned(),
        format!("/cases/{id}"),
        format!("/cases/{id}/messages/0/attachment"),
        "/audit".to_owned(),
        "/no/such/page".to_owned(),
    ] {
        let reply = console.get(&path, Some("fuin_session=00")).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        let expected = if path == "/" { "/cases" } else { "/login" };
        assert_eq!(reply.location(), expected, "{path}");
    }
    for path in ["/login", "/static/console.css", "/static/console.js"] {
        assert_eq!(
            console.get(path, None).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    // Nothing was viewed.
    assert!(
        !console
            .audit_actions()
            .await
            .contains(&"case_viewed".to_owned())
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let console = Console::new().await;
    let browser = console.login("mo").await;
    let reply = console
        .post("/logout", &browser.cookie, &[("csrf", &browser.csrf)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/login");
    assert!(
        reply
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("fuin_session=;") && c.contains("Max-Age=0"))
    );
    // The old cookie no longer opens anything.
    let after = console.get("/cases", Some(&browser.cookie)).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location(), "/login");
    assert_eq!(
        console.audit_actions().await.last().map(String::as_str),
        Some("logout")
    );
}

#[tokio::test]
async fn a_session_expires_after_eight_hours() {
    let console = Console::new().await;
    let browser = console.login("mo").await;
    console.now.store(T0 + 8 * 3600 * 1000, Ordering::SeqCst);
    let reply = console.get("/cases", Some(&browser.cookie)).await;
    assert_eq!(reply.location(), "/login");
}

#[tokio::test]
async fn a_post_without_or_with_a_wrong_csrf_token_is_refused_and_does_nothing() {
    let console = Console::new().await;
    let id = console.plain_case(2).await;
    let lead = console.login("lea").await;
    let other = console.login("mo").await;
    let before = console.audit_actions().await.len();
    let path = format!("/cases/{id}/actions");
    for csrf in [
        None,
        Some("0".repeat(64)),
        Some(other.csrf.clone()),
        Some(String::new()),
    ] {
        let mut pairs = vec![("action", "suspend_account")];
        if let Some(csrf) = &csrf {
            pairs.push(("csrf", csrf));
        }
        let reply = console.post(&path, &lead.cookie, &pairs).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{csrf:?}");
        assert!(reply.body.contains("id=\"error\" role=\"alert\""));
    }
    for (path, pairs) in [
        (format!("/cases/{id}/assign"), vec![]),
        (format!("/cases/{id}/notes"), vec![("text", "a note")]),
        ("/logout".to_owned(), vec![]),
    ] {
        let reply = console.post(&path, &lead.cookie, &pairs).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert!(console.admin.calls.lock().unwrap().is_empty());
    assert_eq!(console.status_of(&id).await, CaseStatus::New);
    assert_eq!(
        console.audit_actions().await.len(),
        before,
        "nothing recorded"
    );
    // The session survived the refused logout.
    assert_eq!(
        console.get("/cases", Some(&lead.cookie)).await.status,
        StatusCode::OK
    );

    // A login post without the login cookie's token is refused too.
    let page = console.get("/login", None).await;
    let login_cookie = format!(
        "fuin_login={}",
        cookie_value(&page.set_cookies(), "fuin_login").unwrap()
    );
    let reply = console
        .post(
            "/login",
            &login_cookie,
            &[
                ("csrf", &"1".repeat(64)),
                ("account", "mo"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = console
        .post(
            "/login",
            "",
            &[
                ("csrf", &csrf_in(&page.body)),
                ("account", "mo"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(cookie_value(&reply.set_cookies(), "fuin_session").is_none());
}

#[tokio::test]
async fn a_post_from_another_origin_is_refused() {
    let console = Console::new().await;
    let id = console.plain_case(3).await;
    let lead = console.login("lea").await;
    let path = format!("/cases/{id}/actions");
    let pairs = [("csrf", lead.csrf.as_str()), ("action", "dismiss")];
    for origin in ["http://evil.test", "https://console.test", "null"] {
        let reply = console
            .post_with(&path, &lead.cookie, &pairs, Some(origin))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{origin}");
        assert!(reply.body.contains("id=\"error\""));
    }
    assert_eq!(console.status_of(&id).await, CaseStatus::New);
    // Its own origin passes.
    let reply = console
        .post_with(&path, &lead.cookie, &pairs, Some("http://console.test"))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(console.status_of(&id).await, CaseStatus::Resolved);
}

#[tokio::test]
async fn a_moderator_cannot_suspend_or_remove_a_device() {
    let console = Console::new().await;
    let id = console.plain_case(4).await;
    let mo = console.login("mo").await;
    let path = format!("/cases/{id}/actions");
    for pairs in [
        vec![("csrf", mo.csrf.as_str()), ("action", "suspend_account")],
        vec![
            ("csrf", mo.csrf.as_str()),
            ("action", "remove_device"),
            ("device", "1"),
        ],
    ] {
        let reply = console.post(&path, &mo.cookie, &pairs).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(reply.body.contains("id=\"error\""));
    }
    assert!(
        console.admin.calls.lock().unwrap().is_empty(),
        "the relay was not called"
    );
    assert_eq!(console.status_of(&id).await, CaseStatus::New);
    let records = console.service.store.audit_log().await.unwrap();
    let forbidden: Vec<_> = records.iter().filter(|r| r.action == "forbidden").collect();
    assert_eq!(forbidden.len(), 2);
    assert_eq!(forbidden[0].actor, "mo");
    assert_eq!(forbidden[0].case, id.0);
    assert_eq!(forbidden[0].detail, "{\"action\":\"suspend_account\"}");
    assert!(!records.iter().any(|r| r.action == "action_taken"));

    // A moderator may dismiss.
    let reply = console
        .post(
            &path,
            &mo.cookie,
            &[("csrf", &mo.csrf), ("action", "dismiss")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(console.status_of(&id).await, CaseStatus::Resolved);
}

#[tokio::test]
async fn a_lead_suspends_through_the_relay_and_the_case_is_resolved() {
    let console = Console::new().await;
    let id = console.plain_case(5).await;
    let lead = console.login("lea").await;
    let reply = console
        .post(
            &format!("/cases/{id}/actions"),
            &lead.cookie,
            &[("csrf", &lead.csrf), ("action", "suspend_account")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), format!("/cases/{id}?done=action"));
    assert_eq!(
        *console.admin.calls.lock().unwrap(),
        vec!["suspend mallory".to_owned()]
    );
    let case = console.service.store.case(&id).await.unwrap().unwrap();
    assert_eq!(case.summary.status, CaseStatus::Resolved);
    assert_eq!(case.summary.outcome.as_deref(), Some("suspend_account"));
    assert_eq!(case.actions.len(), 1);
    assert_eq!(case.actions[0].result, "done");
    assert_eq!(case.actions[0].target, "mallory");

    let page = console.get(reply.location(), Some(&lead.cookie)).await;
    assert!(page.body.contains("id=\"flash\" role=\"status\""));
    assert!(page.body.contains("id=\"feedback-form\""));
    assert!(!page.body.contains("id=\"action-form\""));

    // The outcome goes to the reporting user, and says nothing of the report.
    let reply = console
        .post(
            &format!("/cases/{id}/feedback"),
            &lead.cookie,
            &[("csrf", &lead.csrf)],
        )
        .await;
    assert_eq!(reply.location(), format!("/cases/{id}?done=feedback"));
    let sent = console.messenger.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "alice");
    assert_eq!(
        sent[0].1,
        "Thank you for your report of 2026-11-30. We reviewed it and suspended the account."
    );
    assert!(!sent[0].1.contains("spam") && !sent[0].1.contains("buy now"));
    // A second time is refused.
    let again = console
        .post(
            &format!("/cases/{id}/feedback"),
            &lead.cookie,
            &[("csrf", &lead.csrf)],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(console.messenger.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_lead_removes_a_device() {
    let console = Console::new().await;
    let id = console.plain_case(6).await;
    let lead = console.login("lea").await;
    let reply = console
        .post(
            &format!("/cases/{id}/actions"),
            &lead.cookie,
            &[
                ("csrf", &lead.csrf),
                ("action", "remove_device"),
                ("device", "3"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(
        *console.admin.calls.lock().unwrap(),
        vec!["remove mallory/3".to_owned()]
    );
    let case = console.service.store.case(&id).await.unwrap().unwrap();
    assert_eq!(case.actions[0].target, "mallory/3");
    assert_eq!(case.summary.outcome.as_deref(), Some("remove_device"));
}

#[tokio::test]
async fn a_failed_relay_call_leaves_the_case_unresolved_and_shows_an_error() {
    let console = Console::new().await;
    let id = console.plain_case(7).await;
    *console.admin.fail_with.lock().unwrap() = Some("relay_unreachable".into());
    let lead = console.login("lea").await;
    let reply = console
        .post(
            &format!("/cases/{id}/actions"),
            &lead.cookie,
            &[("csrf", &lead.csrf), ("action", "suspend_account")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), format!("/cases/{id}?error=relay"));
    let case = console.service.store.case(&id).await.unwrap().unwrap();
    assert_eq!(case.summary.status, CaseStatus::New);
    assert_eq!(case.actions.len(), 1);
    assert_eq!(case.actions[0].result, "relay_unreachable");
    let page = console.get(reply.location(), Some(&lead.cookie)).await;
    assert!(page.body.contains("id=\"error\" role=\"alert\""));
    assert!(
        page.body.contains("id=\"action-form\""),
        "the case can still be acted on"
    );
}

#[tokio::test]
async fn warning_without_a_messenger_fails_clearly_and_resolves_nothing() {
    let console = Console::with(false).await;
    let id = console.plain_case(8).await;
    let mo = console.login("mo").await;
    let reply = console
        .post(
            &format!("/cases/{id}/actions"),
            &mo.cookie,
            &[("csrf", &mo.csrf), ("action", "warn")],
        )
        .await;
    assert_eq!(reply.location(), format!("/cases/{id}?error=no_messenger"));
    assert_eq!(console.status_of(&id).await, CaseStatus::New);
    let page = console.get(reply.location(), Some(&mo.cookie)).await;
    assert!(page.body.contains("without a moderation account"));

    // With one, the reported user is warned and the case resolved.
    let console = Console::new().await;
    let id = console.plain_case(8).await;
    let mo = console.login("mo").await;
    console
        .post(
            &format!("/cases/{id}/actions"),
            &mo.cookie,
            &[("csrf", &mo.csrf), ("action", "warn")],
        )
        .await;
    let sent = console.messenger.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "mallory");
    assert_eq!(console.status_of(&id).await, CaseStatus::Resolved);
}

#[tokio::test]
async fn assigning_and_notes_are_recorded_and_notes_are_sealed() {
    let console = Console::new().await;
    let id = console.plain_case(9).await;
    let mo = console.login("mo").await;
    let reply = console
        .post(
            &format!("/cases/{id}/assign"),
            &mo.cookie,
            &[("csrf", &mo.csrf)],
        )
        .await;
    assert_eq!(reply.location(), format!("/cases/{id}?done=assigned"));
    let note = "looks like <b>spam</b> \u{202E}";
    let reply = console
        .post(
            &format!("/cases/{id}/notes"),
            &mo.cookie,
            &[("csrf", &mo.csrf), ("text", note)],
        )
        .await;
    assert_eq!(reply.location(), format!("/cases/{id}?done=note"));
    assert!(!reply.location().contains("spam"));
    let case = console.service.store.case(&id).await.unwrap().unwrap();
    assert_eq!(case.summary.status, CaseStatus::Assigned);
    assert_eq!(
        case.summary.assignee.as_ref().map(AccountName::as_str),
        Some("mo")
    );
    assert!(!case.notes[0].text.0.windows(4).any(|w| w == b"spam"));
    let records = console.service.store.audit_log().await.unwrap();
    let added = records.iter().find(|r| r.action == "note_added").unwrap();
    assert_eq!(
        added.detail,
        format!("{{\"length\":{}}}", note.chars().count())
    );

    let page = console.get(&format!("/cases/{id}"), Some(&mo.cookie)).await;
    assert!(
        page.body
            .contains("looks like &lt;b&gt;spam&lt;/b&gt; <span class=\"ctl\"")
    );
    // Too long a note is refused.
    let long = "x".repeat(4001);
    let reply = console
        .post(
            &format!("/cases/{id}/notes"),
            &mo.cookie,
            &[("csrf", &mo.csrf), ("text", &long)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        console
            .service
            .store
            .case(&id)
            .await
            .unwrap()
            .unwrap()
            .notes
            .len(),
        1
    );
}

#[tokio::test]
async fn script_markup_bidi_and_zero_width_text_is_shown_inert() {
    let console = Console::new().await;
    let script = "<script>alert(1)</script>";
    let img = "\"><img src=x onerror=alert(1)>";
    let bidi = "invoice\u{202E}fdp.exe";
    let zero_width = "pay\u{200B}pal\u{2060}\u{FEFF}";
    let id = console
        .seed_case(
            10,
            &format!("{script}{bidi}"),
            &format!("{img}{zero_width}"),
            &format!("{script}{img}{bidi}"),
            "image/png",
        )
        .await;
    let other = console
        .seed_case(11, img, script, zero_width, "application/x-evil\"><script>")
        .await;
    let mo = console.login("mo").await;
    for case in [&id, &other] {
        let page = console
            .get(&format!("/cases/{case}"), Some(&mo.cookie))
            .await;
        let html = &page.body;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!html.contains("<script>alert"), "raw script in the page");
        assert!(!html.contains("<img src=x"), "raw img in the page");
        assert!(!html.contains("<script>\""));
        // The only script element is the console's own.
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("<script src=\"/static/console.js\" defer></script>"));
        for hidden in ['\u{202E}', '\u{200B}', '\u{2060}', '\u{FEFF}'] {
            assert!(!html.contains(hidden), "{hidden:?} reached the page");
        }
    }
    let page = console.get(&format!("/cases/{id}"), Some(&mo.cookie)).await;
    let html = &page.body;
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("invoice<span class=\"ctl\" title=\"hidden character U+202E\">\u{27e8}U+202E\u{27e9}</span>fdp.exe"));
    assert!(html.contains(
        "pay<span class=\"ctl\" title=\"hidden character U+200B\">\u{27e8}U+200B\u{27e9}</span>pal"
    ));
    // The verdicts are in words: the rejected message says why.
    assert!(html.contains("data-verdict=\"rejected\""));
    assert!(html.contains("its content is not what the sender committed to"));
    assert!(html.contains("img class=\"blurred\""));
    assert!(html.contains("button type=\"button\" class=\"reveal\""));
    // The queue shows names escaped too.
    let queue = console.get("/cases", Some(&mo.cookie)).await;
    assert_eq!(queue.body.matches("class=\"case-row\"").count(), 2);
    assert_eq!(queue.body.matches("<script").count(), 1);
}

#[tokio::test]
async fn a_value_that_does_not_open_is_shown_as_such() {
    let console = Console::new().await;
    let id = console.plain_case(12).await;
    // Sealed for another case: does not open here.
    let stranger = CaseId("ee".repeat(16));
    let mut case = console.service.store.case(&id).await.unwrap().unwrap();
    case.messages[0].attachment.as_mut().unwrap().file_name =
        console
            .service
            .vault
            .seal(&stranger, "message/0/file-name", b"moved");
    console
        .service
        .store
        .set_attachment(&id, 0, case.messages[0].attachment.clone().unwrap())
        .await
        .unwrap();
    let mo = console.login("mo").await;
    let page = console.get(&format!("/cases/{id}"), Some(&mo.cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("(cannot be opened)"));
    assert!(!page.body.contains("moved"));
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let console = Console::new().await;
    let id = console.plain_case(13).await;
    let mo = console.login("mo").await;
    let mut replies = vec![
        console.get("/login", None).await,
        console.get("/cases", None).await,
        console.get("/static/console.css", None).await,
        console.get("/static/console.js", None).await,
    ];
    for path in [
        "/cases".to_owned(),
        "/cases?status=new&kind=direct&reported=mallory&mine=on".to_owned(),
        format!("/cases/{id}"),
        format!("/cases/{id}/messages/0/attachment"),
        "/audit".to_owned(),
        "/cases/not-an-id".to_owned(),
    ] {
        replies.push(console.get(&path, Some(&mo.cookie)).await);
    }
    replies.push(
        console
            .post(&format!("/cases/{id}/assign"), &mo.cookie, &[])
            .await,
    );
    for reply in &replies {
        let h = &reply.headers;
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::REFERRER_POLICY], "same-origin");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert!(h.contains_key(header::CACHE_CONTROL));
        // No inline script or style anywhere.
        assert!(!reply.body.contains("<script>"));
        assert!(!reply.body.contains("<style"));
        assert!(!reply.body.contains(" style="));
        assert!(!reply.body.contains(" onclick="));
    }
    assert_eq!(replies[5].headers[header::CACHE_CONTROL], "no-store");
    assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self'"));
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
}

#[tokio::test]
async fn no_report_content_reaches_a_location_header() {
    let console = Console::new().await;
    let id = console
        .seed_case(
            14,
            "secret reason",
            "secret text",
            "secret.png",
            "image/png",
        )
        .await;
    let lead = console.login("lea").await;
    let mut locations = Vec::new();
    for (path, pairs) in [
        (
            format!("/cases/{id}/assign"),
            vec![("csrf", lead.csrf.as_str())],
        ),
        (
            format!("/cases/{id}/notes"),
            vec![("csrf", lead.csrf.as_str()), ("text", "secret note")],
        ),
        (
            format!("/cases/{id}/actions"),
            vec![("csrf", lead.csrf.as_str()), ("action", "warn")],
        ),
        (
            format!("/cases/{id}/feedback"),
            vec![("csrf", lead.csrf.as_str())],
        ),
    ] {
        let reply = console.post(&path, &lead.cookie, &pairs).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        locations.push(reply.location().to_owned());
    }
    for location in &locations {
        assert!(!location.contains("secret"), "{location}");
        let (path, query) = location.split_once('?').unwrap();
        assert_eq!(path, format!("/cases/{id}"));
        assert!(query.starts_with("done="), "{query}");
    }
    // Nor an audit record.
    let records = console.service.store.audit_log().await.unwrap();
    assert!(records.iter().all(|r| !r.detail.contains("secret")));
}

#[tokio::test]
async fn an_attachment_is_served_as_an_image_only_for_image_types() {
    let console = Console::new().await;
    let png = console.plain_case(15).await;
    let html = console
        .seed_case(16, "r", "t", "page.html", "text/html")
        .await;
    let mo = console.login("mo").await;

    let image = console
        .get(
            &format!("/cases/{png}/messages/0/attachment"),
            Some(&mo.cookie),
        )
        .await;
    assert_eq!(image.status, StatusCode::OK);
    assert_eq!(image.headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(image.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(image.body.contains("PNG fake image bytes"));

    let download = console
        .get(
            &format!("/cases/{html}/messages/0/attachment"),
            Some(&mo.cookie),
        )
        .await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(
        download.headers[header::CONTENT_TYPE],
        "application/octet-stream"
    );
    assert_eq!(download.headers[header::CONTENT_DISPOSITION], "attachment");
    // The page shows it as a file, not an image.
    let page = console
        .get(&format!("/cases/{html}"), Some(&mo.cookie))
        .await;
    assert!(!page.body.contains("img class=\"blurred\""));
    assert!(page.body.contains("page.html"));

    // A message without an attachment, or an index out of range: 404.
    for path in [
        format!("/cases/{png}/messages/1/attachment"),
        format!("/cases/{png}/messages/9/attachment"),
        format!("/cases/{png}/messages/x/attachment"),
    ] {
        assert_eq!(
            console.get(&path, Some(&mo.cookie)).await.status,
            StatusCode::NOT_FOUND
        );
    }
    let records = console.service.store.audit_log().await.unwrap();
    let viewed: Vec<_> = records
        .iter()
        .filter(|r| r.action == "attachment_viewed")
        .collect();
    assert_eq!(viewed.len(), 2);
    assert_eq!(viewed[0].detail, "{\"message\":0}");
    assert_eq!(viewed[0].actor, "mo");
}

#[tokio::test]
async fn the_queue_filters_and_the_case_page_records_its_view() {
    let console = Console::new().await;
    let first = console.plain_case(17).await;
    let second = console.plain_case(18).await;
    let mo = console.login("mo").await;
    console
        .post(
            &format!("/cases/{second}/assign"),
            &mo.cookie,
            &[("csrf", &mo.csrf)],
        )
        .await;
    let all = console.get("/cases", Some(&mo.cookie)).await;
    assert!(all.body.contains(&format!("data-case-id=\"{first}\"")));
    assert!(all.body.contains(&format!("data-case-id=\"{second}\"")));
    let new_only = console.get("/cases?status=new", Some(&mo.cookie)).await;
    assert!(new_only.body.contains(&format!("data-case-id=\"{first}\"")));
    assert!(
        !new_only
            .body
            .contains(&format!("data-case-id=\"{second}\""))
    );
    assert!(new_only.body.contains("<option value=\"new\" selected>"));
    let mine = console.get("/cases?mine=on", Some(&mo.cookie)).await;
    assert_eq!(mine.body.matches("class=\"case-row\"").count(), 1);
    assert!(mine.body.contains(&format!("data-case-id=\"{second}\"")));
    let nobody = console
        .get("/cases?reported=someone-else", Some(&mo.cookie))
        .await;
    assert_eq!(nobody.body.matches("class=\"case-row\"").count(), 0);

    let page = console
        .get(&format!("/cases/{first}"), Some(&mo.cookie))
        .await;
    assert!(page.body.contains("id=\"case-status\">new"));
    assert!(page.body.contains("id=\"case-kind\">direct"));
    assert!(page.body.contains("id=\"case-reported\">mallory"));
    assert!(page.body.contains("<time datetime=\"2026-11-30T"));
    // The trail shows the opening and this very view.
    let trail_at = page.body.find("id=\"case-audit\"").unwrap();
    let trail = &page.body[trail_at..];
    assert!(trail.contains("report_opened"));
    assert!(trail.contains("<span class=\"actor\">mo</span> <span class=\"action\">case_viewed"));
}

#[tokio::test]
async fn the_audit_page_verifies_the_chain_and_shows_its_head() {
    let console = Console::new().await;
    let id = console.plain_case(19).await;
    let mo = console.login("mo").await;
    console.get(&format!("/cases/{id}"), Some(&mo.cookie)).await;
    let records = console.service.store.audit_log().await.unwrap();
    let head = fuin_moderation::audit::verify_chain(&records).unwrap();
    let page = console.get("/audit", Some(&mo.cookie)).await;
    assert!(
        page.body
            .contains("id=\"audit-status\" data-verified=\"true\"")
    );
    assert!(
        page.body
            .contains(&format!("{}:{}", head.records, hex::encode(head.hash)))
    );
    assert_eq!(
        page.body.matches("class=\"audit-record\"").count(),
        records.len()
    );
    assert!(
        page.body
            .contains("<td class=\"actor\">mo</td><td class=\"action\">case_viewed</td>")
    );

    // An edited record breaks it, and the page says where.
    console.tamper(2, "{\"edited\":true}");
    let page = console.get("/audit", Some(&mo.cookie)).await;
    assert!(
        page.body
            .contains("id=\"audit-status\" data-verified=\"false\"")
    );
    assert!(page.body.contains("audit record 2 does not match its hash"));
    assert!(page.body.contains("(check <code>hash</code>)"));
    // A broken log has no head.
    assert!(!page.body.contains(&hex::encode(head.hash)));
}

#[tokio::test]
async fn a_message_reported_again_is_shown_as_counted_before() {
    let console = Console::new().await;
    let first = console
        .seed_case_with(21, 40, "r", "same message", "a.png", "image/png")
        .await;
    let again = console
        .seed_case_with(22, 40, "r", "same message", "a.png", "image/png")
        .await;
    let mo = console.login("mo").await;
    let page = console
        .get(&format!("/cases/{first}"), Some(&mo.cookie))
        .await;
    assert!(
        page.body
            .contains("data-index=\"0\" data-verdict=\"verified\"")
    );
    let page = console
        .get(&format!("/cases/{again}"), Some(&mo.cookie))
        .await;
    assert!(
        page.body
            .contains("data-index=\"0\" data-verdict=\"duplicate\"")
    );
    assert!(page.body.contains("reported this same message already"));
    let queue = console.get("/cases", Some(&mo.cookie)).await;
    let row_at = queue
        .body
        .find(&format!("data-case-id=\"{again}\""))
        .unwrap();
    let row = queue.body[row_at..].split("</tr>").next().unwrap();
    // Verified 0, repeated 1, rejected 1.
    assert!(row.contains("<td>0</td><td>1</td><td>1</td>"), "{row}");
}

#[tokio::test]
async fn a_resolved_case_takes_no_more_actions_and_a_bad_device_is_refused() {
    let console = Console::new().await;
    let id = console.plain_case(23).await;
    let lead = console.login("lea").await;
    let path = format!("/cases/{id}/actions");
    let reply = console
        .post(
            &path,
            &lead.cookie,
            &[
                ("csrf", &lead.csrf),
                ("action", "remove_device"),
                ("device", "one"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains("id=\"error\""));
    assert_eq!(console.status_of(&id).await, CaseStatus::New);

    console
        .post(
            &path,
            &lead.cookie,
            &[("csrf", &lead.csrf), ("action", "dismiss")],
        )
        .await;
    assert_eq!(console.status_of(&id).await, CaseStatus::Resolved);
    let reply = console
        .post(
            &path,
            &lead.cookie,
            &[("csrf", &lead.csrf), ("action", "suspend_account")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert!(console.admin.calls.lock().unwrap().is_empty());
    let case = console.service.store.case(&id).await.unwrap().unwrap();
    assert_eq!(case.summary.outcome.as_deref(), Some("dismiss"));
    assert_eq!(case.actions.len(), 1);
    // Feedback before resolution is refused; notes still go in after it.
    let open = console.plain_case(24).await;
    let reply = console
        .post(
            &format!("/cases/{open}/feedback"),
            &lead.cookie,
            &[("csrf", &lead.csrf)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert!(console.messenger.sent.lock().unwrap().is_empty());
    let reply = console
        .post(
            &format!("/cases/{id}/notes"),
            &lead.cookie,
            &[("csrf", &lead.csrf), ("text", "closed, noted")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_console_serves_over_a_real_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let console = Console::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = console.app.clone();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /logout HTTP/1.1\r\nHost: {address}\r\nOrigin: http://elsewhere.test\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-security-policy: default-src 'none'")
    );
    assert!(answer.contains("id=\"error\""));

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET /login HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("id=\"login-form\""));
    server.abort();
}

#[tokio::test]
async fn an_oversized_form_is_refused_unread() {
    let console = Console::new().await;
    let id = console.plain_case(25).await;
    let mo = console.login("mo").await;
    let huge = "y".repeat(fuin_moderation::web::MAX_BODY_BYTES + 1);
    let reply = console
        .post(
            &format!("/cases/{id}/notes"),
            &mo.cookie,
            &[("csrf", &mo.csrf), ("text", &huge)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        reply.headers[header::CONTENT_SECURITY_POLICY],
        CONTENT_SECURITY_POLICY
    );
    let case = console.service.store.case(&id).await.unwrap().unwrap();
    assert!(case.notes.is_empty());
}

#[tokio::test]
async fn a_second_note_by_the_same_author_in_the_same_millisecond_is_refused() {
    let console = Console::new().await;
    let id = console.plain_case(26).await;
    let mo = console.login("mo").await;
    let path = format!("/cases/{id}/notes");
    let first = console
        .post(&path, &mo.cookie, &[("csrf", &mo.csrf), ("text", "first")])
        .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let second = console
        .post(&path, &mo.cookie, &[("csrf", &mo.csrf), ("text", "second")])
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert!(second.body.contains("id=\"error\""));
    // A millisecond later it goes in, and both open on the page.
    console.now.fetch_add(1, Ordering::SeqCst);
    let third = console
        .post(&path, &mo.cookie, &[("csrf", &mo.csrf), ("text", "second")])
        .await;
    assert_eq!(third.status, StatusCode::SEE_OTHER);
    let page = console.get(&format!("/cases/{id}"), Some(&mo.cookie)).await;
    assert_eq!(page.body.matches("class=\"note-text content\">").count(), 2);
    assert!(
        page.body
            .contains("class=\"note-text content\">first</div>")
    );
    assert!(
        page.body
            .contains("class=\"note-text content\">second</div>")
    );
    assert!(!page.body.contains("(cannot be opened)"));
    let notes = console.audit_actions().await;
    assert_eq!(notes.iter().filter(|a| *a == "note_added").count(), 2);
}
