//! The console in headless Chromium (issue 19's browser tests): a relay in
//! process with real fuin devices, the moderation service assembled from
//! its real parts on it, and a browser driven over WebDriver through the
//! pages a moderator uses (the page contract of `spec/report.md` §13.4).
//!
//! The scenarios run one at a time ([`BROWSER_TURN`]: Chromium is heavy on
//! a small machine), each in one browser session. Without chromedriver and
//! chromium they are skipped with a note, except under `CI`, where they
//! fail.
//!
//! `FUIN_WRITE_SCREENSHOT=1` writes the case page's screenshot to
//! `docs/moderation-case.png` (the README shows it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "browser/driver.rs"]
mod driver;
#[path = "browser/fixture.rs"]
mod fixture;
#[path = "browser/other_origin.rs"]
mod other_origin;
#[path = "browser/relay.rs"]
mod relay;

use std::io::Write;
use std::time::Instant;

use driver::{Browser, Installed};
use fixture::{LENA, MAX, MAX_FAILURES, PASSWORD, World};
use fuin_client::ClientError;
use fuin_moderation::model::{CaseFilter, CaseId, CaseStatus};
use fuin_moderation::store::ModerationStore;
use other_origin::OtherOrigin;
use serde_json::Value;

/// One browser at a time across this binary's tests.
static BROWSER_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The browser, when installed, and this test's turn with it.
async fn browser_turn() -> Option<(Installed, tokio::sync::MutexGuard<'static, ()>)> {
    let installed = driver::installed()?;
    let turn = BROWSER_TURN.lock().await;
    Some((installed, turn))
}

/// How long a scenario took, past the harness's capture (the brief asks
/// for the browser tests' time to be known).
fn took(name: &str, started: Instant) {
    let _ = writeln!(
        std::io::stderr(),
        "browser scenario {name}: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Logs in through the login form; returns the page's URL afterwards.
async fn log_in(browser: &Browser, world: &World, account: &str, password: &str) -> String {
    browser.goto(&world.page("/login")).await;
    browser.find("#account").await.send_keys(account).await;
    browser.find("#password").await.send_keys(password).await;
    let submit = browser.find("#login-submit").await;
    // Either the queue (a session) or the login page again with an error.
    browser.click_to_load(&submit, "the login's answer").await;
    browser.url().await
}

/// Logs in and checks the queue greets `account` with its role.
async fn log_in_as(browser: &Browser, world: &World, account: &str, role: &str) {
    let url = log_in(browser, world, account, PASSWORD).await;
    assert_eq!(url, world.page("/cases"), "{account} lands on the queue");
    let whoami = browser.find("#whoami").await.text().await;
    assert!(
        whoami.contains(account) && whoami.contains(role),
        "#whoami names {account} and {role}: {whoami:?}"
    );
}

/// Logs out with the page's button.
async fn log_out(browser: &Browser, world: &World) {
    let logout = browser.find("#logout").await;
    browser
        .click_to_load(&logout, "the page after logout")
        .await;
    assert_eq!(browser.url().await, world.page("/login"));
}

/// The only case in the store.
async fn only_case(world: &World) -> CaseId {
    let cases = world
        .service
        .store
        .cases(&CaseFilter::default())
        .await
        .unwrap();
    assert_eq!(cases.len(), 1, "one case");
    cases[0].id.clone()
}

/// Checks the case page's screenshot is a PNG of the window, and writes it
/// to `docs/` with `FUIN_WRITE_SCREENSHOT=1`, otherwise to a temp dir.
fn keep_screenshot(png: &[u8]) {
    let scratch = tempfile::tempdir().unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is a PNG"
    );
    let decoded = image::load_from_memory_with_format(png, image::ImageFormat::Png).unwrap();
    assert!(decoded.width() >= 1000 && decoded.height() >= 600);
    let path = if std::env::var("FUIN_WRITE_SCREENSHOT").as_deref() == Ok("1") {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        std::fs::create_dir_all(&docs).unwrap();
        docs.join("moderation-case.png")
    } else {
        scratch.path().join("moderation-case.png")
    };
    std::fs::write(&path, png).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), png);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_suspends_the_reported_account_and_a_moderator_sees_the_case_resolved() {
    let Some((installed, _turn)) = browser_turn().await else {
        return;
    };
    let started = Instant::now();
    let mut world = World::start().await;

    // mallory sends alice a text and a photo under the relay's first stamp
    // key; the relay rotates its stamp key (the moderation service is not
    // given the new one); mallory sends a second text under the new key.
    let photo = world.file("photo.png");
    fixture::write_png(&photo, 480, 320);
    world
        .mallory
        .send_text("alice", "first text: you will regret this")
        .await
        .unwrap();
    world.mallory_sends_image(&photo, "photo.png").await;
    world.relay.restart_with_rotated_stamp_key().await;
    world
        .mallory
        .send_text("alice", "second text: stamped with the new key")
        .await
        .unwrap();
    world.alice_reports_mallory("threats, and a photo", 3).await;
    let pulled = world.pull().await;
    assert_eq!((pulled.opened, pulled.attachments), (1, 1), "{pulled:?}");
    let case = only_case(&world).await;

    let browser = Browser::start(&installed).await;
    // Without a session every page sends the browser to the login page.
    browser.goto(&world.page(&format!("/cases/{case}"))).await;
    assert_eq!(browser.url().await, world.page("/login"));

    log_in_as(&browser, &world, LENA, "lead").await;
    let rows = browser.find_all("table#queue tr.case-row").await;
    assert_eq!(rows.len(), 1, "one case in the queue");
    assert_eq!(
        rows[0].attribute("data-case-id").await.as_deref(),
        Some(case.0.as_str())
    );
    assert!(
        rows[0]
            .find("td.case-status")
            .await
            .text()
            .await
            .contains("new"),
        "the case is new"
    );
    let link = rows[0].find("a.case-link").await;
    browser.click_to_load(&link, "the case page").await;
    let case_url = world.page(&format!("/cases/{case}"));
    assert_eq!(browser.url().await, case_url);

    // The case: the reason, the parties, and each message's verdict.
    assert!(
        browser
            .find("#case-reason")
            .await
            .text()
            .await
            .contains("threats, and a photo")
    );
    assert!(
        browser
            .find("#case-reporter")
            .await
            .text()
            .await
            .contains("alice")
    );
    assert!(
        browser
            .find("#case-reported")
            .await
            .text()
            .await
            .contains("mallory")
    );
    assert!(
        browser
            .find("#case-kind")
            .await
            .text()
            .await
            .contains("direct")
    );
    let messages = browser.find_all("li.message").await;
    assert_eq!(messages.len(), 3, "three reported messages");
    let mut verdicts = Vec::new();
    for message in &messages {
        verdicts.push(message.attribute("data-verdict").await.unwrap());
    }
    assert_eq!(verdicts, ["verified", "verified", "rejected"]);
    assert!(
        messages[0]
            .find(".message-text")
            .await
            .text()
            .await
            .contains("first text: you will regret this")
    );
    let rejected = &messages[2];
    assert!(
        rejected
            .find(".message-text")
            .await
            .text()
            .await
            .contains("second text: stamped with the new key")
    );
    let why = rejected.find(".verdict").await.text().await;
    assert!(
        why.starts_with("Not verified") && why.contains("key"),
        "the unverifiable message says why: {why:?}"
    );

    // The photo: served by the console, blurred until the button is clicked.
    let image = browser.find("figure.attachment img").await;
    assert!(image.classes().await.contains(&"blurred".to_owned()));
    let index = messages[1].attribute("data-index").await.unwrap();
    assert_eq!(
        image.attribute("src").await.as_deref(),
        Some(format!("/cases/{case}/messages/{index}/attachment").as_str())
    );
    browser
        .wait_for(
            "the photo to load",
            "const i = document.querySelector('figure.attachment img'); \
             return i.complete && i.naturalWidth === 480 && i.naturalHeight === 320;",
        )
        .await;
    let filter = browser
        .execute(
            "return getComputedStyle(document.querySelector('figure.attachment img')).filter;",
            vec![],
        )
        .await;
    assert!(
        filter.as_str().is_some_and(|f| f.contains("blur")),
        "the stylesheet blurs it: {filter}"
    );
    browser
        .find("figure.attachment button.reveal")
        .await
        .click()
        .await;
    let classes = browser.find("figure.attachment img").await.classes().await;
    assert!(
        classes.contains(&"revealed".to_owned()) && !classes.contains(&"blurred".to_owned()),
        "revealed: {classes:?}"
    );
    let filter = browser
        .execute(
            "return getComputedStyle(document.querySelector('figure.attachment img')).filter;",
            vec![],
        )
        .await;
    assert!(
        !filter.as_str().unwrap_or("blur").contains("blur"),
        "no longer blurred: {filter}"
    );
    // The whole case page in one picture: the window as tall as the page.
    let height = browser
        .execute(
            "window.scrollTo(0, 0); return document.documentElement.scrollHeight;",
            vec![],
        )
        .await
        .as_u64()
        .unwrap();
    browser
        .set_window_size(1366, u32::try_from(height.clamp(900, 2400)).unwrap() + 140)
        .await;
    keep_screenshot(&browser.screenshot().await);
    browser.set_window_size(1366, 900).await;

    // lena suspends mallory's account through the relay's admin API.
    browser
        .find("#action")
        .await
        .select("suspend_account")
        .await;
    let submit = browser.find("#action-submit").await;
    browser.click_to_load(&submit, "the action's answer").await;
    browser.find("#flash").await;
    assert!(browser.url().await.starts_with(&case_url));
    assert!(
        browser
            .find("#case-status")
            .await
            .text()
            .await
            .contains("resolved")
    );
    match world
        .mallory
        .send_text("alice", "are you still there?")
        .await
    {
        Err(ClientError::Relay { code, .. }) => assert_eq!(code, "account_suspended"),
        other => panic!("the relay should refuse mallory's send: {other:?}"),
    }
    let stored = world.service.store.case(&case).await.unwrap().unwrap();
    // The unverifiable message failed for the reason the key rotation gives.
    assert_eq!(stored.messages[2].rejection, "unknown_stamp_key");
    assert_eq!(stored.summary.status, CaseStatus::Resolved);
    assert_eq!(stored.summary.outcome.as_deref(), Some("suspend_account"));

    // max sees it resolved in the queue.
    log_out(&browser, &world).await;
    log_in_as(&browser, &world, MAX, "moderator").await;
    let status = browser
        .find(&format!(
            "tr.case-row[data-case-id=\"{case}\"] td.case-status"
        ))
        .await
        .text()
        .await;
    assert!(status.contains("resolved"), "max sees {status:?}");
    browser.goto(&case_url).await;
    browser.find("#case-status").await;

    // The audit log verifies, and names both moderators.
    browser.goto(&world.page("/audit")).await;
    let status = browser.find("#audit-status").await;
    assert_eq!(
        status.attribute("data-verified").await.as_deref(),
        Some("true")
    );
    let text = status.text().await;
    let head = text
        .split_whitespace()
        .find_map(|word| {
            let (records, hash) = word.split_once(':')?;
            let records: u64 = records.parse().ok()?;
            (hash.len() == 64).then(|| (records, hash.to_owned()))
        })
        .unwrap_or_else(|| panic!("no RECORDS:HASH head in {text:?}"));
    let log = world.service.store.audit_log().await.unwrap();
    let at_head = log
        .iter()
        .find(|record| record.seq == head.0)
        .unwrap_or_else(|| panic!("no record {} in the store", head.0));
    assert_eq!(
        hex::encode(at_head.hash),
        head.1,
        "the head is the stored chain's"
    );
    let mut actors = Vec::new();
    for cell in browser
        .find_all("table#audit-log tr.audit-record td.actor")
        .await
    {
        actors.push(cell.text().await);
    }
    for name in [LENA, MAX] {
        assert!(
            actors.iter().any(|actor| actor.contains(name)),
            "the audit log names {name}: {actors:?}"
        );
    }
    // The suspension is a record of lena's, on this case, naming the action.
    let mut rows = Vec::new();
    for row in browser.find_all("table#audit-log tr.audit-record").await {
        let actor = row.find("td.actor").await.text().await;
        let action = row.find("td.action").await.text().await;
        let on = row.find("td.case").await.text().await;
        rows.push((actor, action, on));
    }
    assert!(
        rows.iter().any(|(actor, action, on)| actor.contains(LENA)
            && action.contains("action_taken")
            // The table shows a case by the start of its id.
            && !on.is_empty()
            && case.0.starts_with(on.as_str())),
        "the console lists lena's action on the case: {rows:?}"
    );
    assert!(
        log.iter().any(|record| record.actor == LENA
            && record.action == "action_taken"
            && record.case == case.0
            && record.detail.contains("suspend_account")),
        "the store's chain holds the suspension"
    );
    browser.quit().await;
    took("suspend", started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_lock_the_account_and_then_the_right_one_is_refused() {
    let Some((installed, _turn)) = browser_turn().await else {
        return;
    };
    let started = Instant::now();
    let world = World::start().await;
    let browser = Browser::start(&installed).await;

    // A wrong name and a wrong password read alike.
    let url = log_in(&browser, &world, "nobody", PASSWORD).await;
    assert_eq!(url, world.page("/login"));
    let unknown = browser.find("#login-error").await;
    assert_eq!(unknown.attribute("role").await.as_deref(), Some("alert"));
    let unknown = unknown.text().await;
    let url = log_in(&browser, &world, MAX, "not the password at all").await;
    assert_eq!(url, world.page("/login"));
    let wrong = browser.find("#login-error").await.text().await;
    assert!(!wrong.is_empty());
    assert_eq!(
        unknown, wrong,
        "a wrong name and a wrong password look the same"
    );
    assert!(!wrong.contains("locked"));

    // The failures go on until the account locks.
    for attempt in 2..=MAX_FAILURES {
        log_in(&browser, &world, MAX, "still not the password").await;
        let error = browser.find("#login-error").await.text().await;
        assert_eq!(
            error.contains("locked"),
            attempt == MAX_FAILURES,
            "attempt {attempt}: {error:?}"
        );
    }
    let url = log_in(&browser, &world, MAX, PASSWORD).await;
    assert_eq!(url, world.page("/login"), "the right password is refused");
    let error = browser.find("#login-error").await.text().await;
    assert!(error.contains("locked"), "{error:?}");
    // No session was made: the queue still sends the browser to log in.
    browser.goto(&world.page("/cases")).await;
    assert_eq!(browser.url().await, world.page("/login"));
    let account = world
        .service
        .store
        .account(&fuin_moderation::model::AccountName::new(MAX).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(account.locked_until_ms.is_some());
    // Another account is not affected.
    log_in_as(&browser, &world, LENA, "lead").await;
    browser.quit().await;
    took("lockout", started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_posted_from_another_origin_is_refused_and_changes_nothing() {
    let Some((installed, _turn)) = browser_turn().await else {
        return;
    };
    let started = Instant::now();
    let world = World::start().await;
    world
        .mallory
        .send_text("alice", "a message to report")
        .await
        .unwrap();
    world.alice_reports_mallory("spam", 1).await;
    assert_eq!(world.pull().await.opened, 1);
    let case = only_case(&world).await;

    let browser = Browser::start(&installed).await;
    log_in_as(&browser, &world, LENA, "lead").await;
    let target = world.page(&format!("/cases/{case}/actions"));
    // Another site (another port of loopback: another origin, but the same
    // host, so the browser sends the console's cookies with the form).
    let attacker = OtherOrigin::serve(format!(
        "<!doctype html><title>win a prize</title>\
         <form id=\"f\" method=\"post\" action=\"{target}\">\
         <input name=\"action\" value=\"suspend_account\">\
         <input name=\"csrf\" value=\"{fake}\"></form>\
         <script>document.getElementById('f').submit();</script>",
        fake = "0".repeat(64)
    ))
    .await;
    browser.goto(&attacker.url).await;
    browser
        .wait_for_url("the forged form's answer", |url| url == target)
        .await;
    let error = browser.find("#error").await;
    assert_eq!(error.attribute("role").await.as_deref(), Some("alert"));

    // Nothing happened: the case is new, no action recorded, and mallory
    // can still send.
    let stored = world.service.store.case(&case).await.unwrap().unwrap();
    assert_eq!(stored.summary.status, CaseStatus::New);
    assert!(stored.actions.is_empty());
    world
        .mallory
        .send_text("alice", "still here")
        .await
        .unwrap();
    browser.goto(&world.page(&format!("/cases/{case}"))).await;
    assert!(
        browser
            .find("#case-status")
            .await
            .text()
            .await
            .contains("new")
    );

    // From the console's own page (the right Origin), a form whose CSRF
    // token is not the session's is refused as well.
    browser
        .execute(
            "const form = document.getElementById('action-form'); \
             form.querySelector('input[name=csrf]').value = '0'.repeat(64); \
             document.getElementById('action').value = 'dismiss'; \
             form.submit();",
            vec![],
        )
        .await;
    browser
        .wait_for_url("the tampered form's answer", |url| url == target)
        .await;
    browser.find("#error").await;
    let stored = world.service.store.case(&case).await.unwrap().unwrap();
    assert_eq!(stored.summary.status, CaseStatus::New);
    assert!(stored.actions.is_empty());
    browser.quit().await;
    took("csrf", started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_bidi_and_zero_width_text_in_a_report_is_shown_inert() {
    let Some((installed, _turn)) = browser_turn().await else {
        return;
    };
    let started = Instant::now();
    let world = World::start().await;
    let script = "<script>window.__xss=1</script>";
    let image_tag = "\"><img src=x onerror=\"window.__xss=2\">";
    let hidden = "abc\u{202E}gnp.exe\u{200B}end";
    world
        .mallory
        .send_text("alice", &format!("{image_tag} {hidden}"))
        .await
        .unwrap();
    let file = world.file("note.txt");
    std::fs::write(&file, b"not an image").unwrap();
    world
        .mallory
        .send_file(
            "alice",
            &file,
            &fuin_client::SendFileOptions {
                content_type: Some("text/plain".to_owned()),
                file_name: Some("\"><svg onload=\"window.__xss=3\">.txt".to_owned()),
                thumbnail: false,
                chunk_size: None,
            },
        )
        .await
        .unwrap();
    world
        .alice_reports_mallory(&format!("{script} {hidden}"), 2)
        .await;
    assert_eq!(world.pull().await.opened, 1);
    let case = only_case(&world).await;

    let browser = Browser::start(&installed).await;
    log_in_as(&browser, &world, LENA, "lead").await;
    browser.goto(&world.page(&format!("/cases/{case}"))).await;
    let reason = browser.find("#case-reason").await.text_content().await;
    let messages = browser.find_all("li.message").await;
    assert_eq!(messages.len(), 2);
    let text = messages[0].find(".message-text").await.text_content().await;
    let file_entry = messages[1].text_content().await;

    // Nothing ran, and the markup is shown as text.
    assert_eq!(
        browser.execute("return typeof window.__xss;", vec![]).await,
        Value::String("undefined".to_owned())
    );
    assert!(reason.contains(script), "{reason:?}");
    assert!(text.contains(image_tag), "{text:?}");
    assert!(
        file_entry.contains("\"><svg onload=\"window.__xss=3\">.txt"),
        "{file_entry:?}"
    );
    let injected = browser
        .execute(
            "return document.querySelectorAll('img[src=\"x\"], svg, main script, #case-reason *:not(span)').length;",
            vec![],
        )
        .await;
    assert_eq!(injected, Value::from(0), "no element was injected");
    let scripts = browser
        .execute(
            "return Array.from(document.scripts).map(s => s.getAttribute('src'));",
            vec![],
        )
        .await;
    assert_eq!(scripts, serde_json::json!(["/static/console.js"]));

    // Bidi and zero-width characters are shown as visible marks, not
    // applied.
    for shown in [&reason, &text] {
        assert!(
            !shown.contains('\u{202E}') && !shown.contains('\u{200B}'),
            "{shown:?}"
        );
        assert!(
            shown.contains("U+202E") && shown.contains("U+200B"),
            "{shown:?}"
        );
    }

    // The page came with a Content-Security-Policy that allows no inline
    // script, and the browser enforces it: an inline handler added to the
    // page does not run.
    let cookies = browser.cookies_header().await;
    let response = reqwest::Client::new()
        .get(world.page(&format!("/cases/{case}")))
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let csp = response
        .headers()
        .get("content-security-policy")
        .expect("a Content-Security-Policy header")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    browser
        .execute(
            "window.__violations = 0; \
             document.addEventListener('securitypolicyviolation', () => window.__violations++); \
             document.body.insertAdjacentHTML('beforeend', \
               '<img id=\"probe\" src=\"/static/none.png\" onerror=\"window.__xss=4\">');",
            vec![],
        )
        .await;
    browser
        .wait_for(
            "the browser to refuse the inline handler",
            "return window.__violations > 0;",
        )
        .await;
    assert_eq!(
        browser.execute("return typeof window.__xss;", vec![]).await,
        Value::String("undefined".to_owned())
    );
    browser.quit().await;
    took("xss", started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_without_the_lead_role_cannot_suspend() {
    let Some((installed, _turn)) = browser_turn().await else {
        return;
    };
    let started = Instant::now();
    let world = World::start().await;
    world
        .mallory
        .send_text("alice", "a message to report")
        .await
        .unwrap();
    world.alice_reports_mallory("abuse", 1).await;
    assert_eq!(world.pull().await.opened, 1);
    let case = only_case(&world).await;

    let browser = Browser::start(&installed).await;
    log_in_as(&browser, &world, MAX, "moderator").await;
    browser.goto(&world.page(&format!("/cases/{case}"))).await;
    browser
        .find("#action")
        .await
        .select("suspend_account")
        .await;
    let submit = browser.find("#action-submit").await;
    browser.click_to_load(&submit, "the action's answer").await;
    let error = browser.find("#error").await;
    assert_eq!(error.attribute("role").await.as_deref(), Some("alert"));

    let stored = world.service.store.case(&case).await.unwrap().unwrap();
    assert_ne!(stored.summary.status, CaseStatus::Resolved);
    assert!(
        stored
            .actions
            .iter()
            .all(|action| action.action != "suspend_account" || action.result != "done"),
        "{:?}",
        stored.actions
    );
    world
        .mallory
        .send_text("alice", "I can still send")
        .await
        .unwrap();
    browser.quit().await;
    took("role", started);
}
