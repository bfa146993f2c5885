//! The console's logs: every field of every span and event is captured
//! (in its own test binary, so that no other test's threads share the
//! tracing callsites' cached interest) and holds no report content.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "web/harness.rs"]
mod harness;

use std::sync::{Arc, Mutex};

use harness::*;

/// A tracing subscriber that writes every span and event field it sees
/// into one string.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<String>>);

struct Collect<'a>(&'a mut String);

impl tracing::field::Visit for Collect<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl tracing::Subscriber for CapturedLogs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut Collect(&mut self.0.lock().unwrap()));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Collect(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut logs = self.0.lock().unwrap();
        event.record(&mut Collect(&mut logs));
        logs.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn logs_name_routes_statuses_and_accounts_but_no_content() {
    let logs = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(logs.clone());
    let console = Console::new().await;
    let id = console
        .seed_case(
            20,
            "secret-reason",
            "secret-text",
            "secret-file.png",
            "image/png",
        )
        .await;
    let lead = console.login("lea").await;
    console
        .get(&format!("/cases/{id}"), Some(&lead.cookie))
        .await;
    console
        .get("/cases?reported=secret-filter", Some(&lead.cookie))
        .await;
    console
        .post(
            &format!("/cases/{id}/notes"),
            &lead.cookie,
            &[("csrf", &lead.csrf), ("text", "secret-note")],
        )
        .await;
    console
        .post(
            &format!("/cases/{id}/notes"),
            &lead.cookie,
            &[("text", "secret-refused")],
        )
        .await;
    *console.admin.fail_with.lock().unwrap() = Some("relay_unreachable".into());
    console
        .post(
            &format!("/cases/{id}/actions"),
            &lead.cookie,
            &[("csrf", &lead.csrf), ("action", "suspend_account")],
        )
        .await;
    console.try_login("lea", "secret-password-typed").await;
    let logs = logs.0.lock().unwrap().clone();
    assert!(logs.contains("route=/cases/{id}/notes"), "{logs}");
    assert!(logs.contains("status=303"), "{logs}");
    assert!(logs.contains("status=403"), "{logs}");
    assert!(logs.contains("account=\"lea\""), "{logs}");
    assert!(!logs.contains("secret"), "{logs}");
    assert!(!logs.contains(&lead.csrf), "{logs}");
    assert!(
        !logs.contains(&lead.cookie["fuin_session=".len()..]),
        "{logs}"
    );
}
