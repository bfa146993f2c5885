//! Chatting with `fuin` processes through a `fuin relay` process: both
//! directions with receipts, a user with two devices (the second linked
//! with a link code), and an account key change that must be accepted
//! before messages flow again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{RelayProcess, Stores, drop_account, fuin, json, texts};

#[test]
fn two_users_chat_both_ways_and_receipts_come_back() {
    let relay = RelayProcess::start();
    let stores = Stores::new();
    let alice = stores.init(&relay.url, "alice", "alice", 1);
    let bob = stores.init(&relay.url, "bob", "bob", 1);

    let sent = json("send", &alice, &["bob", "hello bob"]);
    assert_eq!(sent["status"], "sent");
    assert_eq!(sent["devices"], 1);
    // Alice's own copy waits for the relay's and bob's confirmation.
    let mine = json("history", &alice, &["bob"]);
    assert_eq!(mine["messages"][0]["status"], "sent");

    let synced = json("sync", &bob, &[]);
    assert_eq!(synced["messages"], 1);
    let received = &synced["received"][0];
    assert_eq!(received["text"], "hello bob");
    assert_eq!(received["sender"], "alice/1");
    assert_eq!(received["outgoing"], false);
    assert_eq!(received["status"], "unread");

    // Bob's sync sent a delivery receipt; alice's sync applies it.
    let synced = json("sync", &alice, &[]);
    assert_eq!(synced["receipts"], 1);
    let mine = json("history", &alice, &["bob"]);
    assert_eq!(mine["messages"][0]["status"], "delivered");

    let read = json("read", &bob, &["alice"]);
    assert_eq!(read["marked"], 1);
    json("sync", &alice, &[]);
    let mine = json("history", &alice, &["bob"]);
    assert_eq!(mine["messages"][0]["status"], "read");
    let theirs = json("history", &bob, &["alice"]);
    assert_eq!(theirs["messages"][0]["status"], "read");

    json("send", &bob, &["alice", "hi alice"]);
    let synced = json("sync", &alice, &[]);
    assert_eq!(synced["received"][0]["text"], "hi alice");
    let mine = json("history", &alice, &["bob"]);
    assert_eq!(texts(&mine), ["hello bob", "hi alice"]);
    assert_eq!(mine["messages"][0]["outgoing"], true);
    assert_eq!(mine["messages"][1]["outgoing"], false);
    assert_eq!(mine["messages"][1]["sender"], "bob/1");

    let conversations = json("conversations", &alice, &[]);
    let list = conversations["conversations"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["peer"], "bob");
    assert_eq!(list[0]["messages"], 2);
    assert_eq!(list[0]["unread"], 1);

    // The text form shows the same conversation, one line per message.
    let output = fuin()
        .args(["history", "--store"])
        .arg(&alice)
        .arg("bob")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("alice/1 (you): hello bob (read)"),
        "{text}"
    );
    assert!(lines[1].contains("bob/1: hi alice (unread)"), "{text}");

    // Both sides compute the same safety number, from the account keys.
    let number = |store, peer: &str| {
        let numbers = json("safety-number", store, &[peer]);
        assert_eq!(numbers["user"], peer);
        assert!(numbers["pending"].is_null(), "{numbers}");
        // The one session with the peer's device is a hybrid one.
        assert_eq!(
            numbers["sessions"],
            serde_json::json!([{ "device": format!("{peer}/1"), "post_quantum": true }]),
            "{numbers}"
        );
        numbers["number"].as_str().unwrap().to_owned()
    };
    let seen_by_alice = number(&alice, "bob");
    assert_eq!(seen_by_alice.len(), 60 + 11);
    assert_eq!(seen_by_alice, number(&bob, "alice"));
}

#[test]
fn both_devices_of_a_user_see_the_whole_conversation() {
    let relay = RelayProcess::start();
    let stores = Stores::new();
    let alice = stores.init(&relay.url, "alice", "alice", 1);
    let phone = stores.init(&relay.url, "bob-phone", "bob", 1);
    let (laptop, address) = stores.link(&relay.url, "bob-laptop", &phone, "laptop");
    assert_eq!(address, "bob/2");

    let sent = json("send", &alice, &["bob", "to both of bob's devices"]);
    assert_eq!(sent["devices"], 2);
    for store in [&phone, &laptop] {
        let synced = json("sync", store, &[]);
        assert_eq!(synced["received"][0]["text"], "to both of bob's devices");
    }

    // The phone answers: alice and the laptop both get it.
    let sent = json("send", &phone, &["alice", "answered from the phone"]);
    assert_eq!(sent["devices"], 2);
    let synced = json("sync", &alice, &[]);
    assert_eq!(synced["received"][0]["sender"], "bob/1");
    json("sync", &laptop, &[]);
    let view = json("history", &laptop, &["alice"]);
    assert_eq!(
        texts(&view),
        ["to both of bob's devices", "answered from the phone"]
    );
    assert_eq!(view["messages"][1]["outgoing"], true);
    assert_eq!(view["messages"][1]["sender"], "bob/1");

    // Reading on the phone marks it read on the laptop too.
    json("read", &phone, &["alice"]);
    json("sync", &laptop, &[]);
    let view = json("history", &laptop, &["alice"]);
    assert_eq!(view["messages"][0]["status"], "read");
}

#[test]
fn a_changed_account_key_is_refused_until_accepted() {
    let relay = RelayProcess::start();
    let stores = Stores::new();
    let alice = stores.init(&relay.url, "alice", "alice", 1);
    let bob = stores.init(&relay.url, "bob", "bob", 1);
    json("send", &alice, &["bob", "before"]);
    json("sync", &bob, &[]);
    let number_before = json("safety-number", &alice, &["bob"])["number"]
        .as_str()
        .unwrap()
        .to_owned();

    drop_account(&relay, "bob");
    let new_bob = stores.init(&relay.url, "new-bob", "bob", 1);

    // alice's send is refused, with a clear line and a hint; the change is
    // shown ahead of the error.
    let output = fuin()
        .args(["send", "--store"])
        .arg(&alice)
        .args(["bob", "are you still you?"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("the account key of bob changed"),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("hint: ")
            && lines[1].contains("fuin safety-number bob")
            && lines[1].contains("fuin accept-identity bob"),
        "{stderr}"
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("bob's account key changed: compare the new safety number"),
        "{stdout}"
    );
    // The same in JSON.
    let output = fuin()
        .args(["--json", "send", "--store"])
        .arg(&alice)
        .args(["bob", "are you still you?"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(error["error"]["code"], "identity_changed");
    assert_eq!(error["error"]["user"], "bob");
    assert!(error["error"]["hint"].as_str().unwrap().contains("accept"));
    // Nothing was sent, and the new number waits beside the old one.
    assert_eq!(texts(&json("history", &alice, &["bob"])), ["before"]);
    let numbers = json("safety-number", &alice, &["bob"]);
    assert_eq!(numbers["number"], number_before.as_str());
    let new_number = numbers["pending"].as_str().unwrap().to_owned();
    assert_ne!(new_number, number_before);
    assert_eq!(
        json("sync", &alice, &[])["pending_identity_changes"][0],
        "bob"
    );

    let accepted = json("accept-identity", &alice, &["bob"]);
    assert_eq!(accepted["user"], "bob");
    assert_eq!(accepted["number"], new_number.as_str());
    let numbers = json("safety-number", &alice, &["bob"]);
    assert!(numbers["pending"].is_null(), "{numbers}");
    assert_eq!(numbers["number"], new_number.as_str());
    // The new number is the one the new device computes.
    assert_eq!(
        numbers["number"],
        json("safety-number", &new_bob, &["alice"])["number"]
    );

    let sent = json("send", &alice, &["bob", "welcome back"]);
    assert_eq!(sent["status"], "sent");
    json("sync", &new_bob, &[]);
    assert_eq!(
        texts(&json("history", &new_bob, &["alice"])),
        ["welcome back"]
    );
    // Accepting twice is an error, not a silent success.
    let output = fuin()
        .args(["--json", "accept-identity", "--store"])
        .arg(&alice)
        .arg("bob")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(error["error"]["code"], "invalid_argument");
}
