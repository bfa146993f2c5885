//! `fuin group ...` through a `fuin relay` process: three users make a
//! group and talk, one is removed and reads nothing after, the others go on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{RelayProcess, Stores, fuin, json, noisy_png};

fn group_texts(history: &serde_json::Value) -> Vec<String> {
    history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["text"].as_str().unwrap().to_owned())
        .collect()
}

fn group(command: &str, store: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec![command];
    all.extend_from_slice(args);
    let output = fuin()
        .args(["--json", "group"])
        .args(&all[..1])
        .arg("--store")
        .arg(store)
        .args(&all[1..])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "fuin group {all:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn three_users_talk_in_a_group_and_a_removed_one_reads_nothing_after() {
    let relay = RelayProcess::start();
    let stores = Stores::new();
    let alice = stores.init(&relay.url, "alice", "alice", 1);
    let bob = stores.init(&relay.url, "bob", "bob", 1);
    let carol = stores.init(&relay.url, "carol", "carol", 1);

    let created = group("create", &alice, &["bob", "carol"]);
    let id = created["group"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 64);
    assert_eq!(created["epoch"], 0);
    assert_eq!(
        created["members"],
        serde_json::json!(["alice/1", "bob/1", "carol/1"])
    );
    for store in [&bob, &carol, &alice, &bob] {
        json("sync", store, &[]);
    }
    let listed = group("list", &bob, &[]);
    assert_eq!(listed["groups"][0]["group"], id);
    assert_eq!(listed["groups"][0]["status"], "member");

    // A unique prefix of the id names the group too.
    let sent = group("send", &alice, &[&id[..8], "hello all"]);
    assert_eq!(sent["devices"], 2);
    assert_eq!(sent["status"], "sent");
    let synced = json("sync", &bob, &[]);
    assert!(
        synced["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "group_message" && e["from"] == "alice/1" && e["group"] == id),
        "{synced}"
    );
    json("sync", &carol, &[]);
    group("send", &carol, &[&id, "hi from carol"]);
    json("sync", &alice, &[]);
    json("sync", &bob, &[]);
    let history = group("history", &bob, &[&id]);
    assert_eq!(group_texts(&history), ["hello all", "hi from carol"]);
    assert_eq!(history["messages"][1]["sender"], "carol/1");

    let removed = group("remove", &alice, &[&id, "carol"]);
    assert_eq!(removed["epoch"], 1);
    assert_eq!(removed["members"], serde_json::json!(["alice/1", "bob/1"]));
    group("send", &alice, &[&id, "without carol"]);
    json("sync", &bob, &[]);
    let synced = json("sync", &carol, &[]);
    let events = synced["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["event"] == "group_changed"
            && e["change"] == "removed_you"
            && e["by"] == "alice/1"
            && e["group"] == id),
        "{synced}"
    );
    assert!(
        !events.iter().any(|e| e["event"] == "group_message"),
        "{synced}"
    );
    assert_eq!(
        group_texts(&group("history", &bob, &[&id])),
        ["hello all", "hi from carol", "without carol"]
    );
    assert_eq!(
        group_texts(&group("history", &carol, &[&id])),
        ["hello all", "hi from carol"]
    );
    assert_eq!(group("list", &carol, &[])["groups"][0]["status"], "removed");
    // Carol may not write any more: a clear failure, code `protocol`.
    let output = fuin()
        .args(["--json", "group", "send", "--store"])
        .arg(&carol)
        .args([&id, "let me back"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let failure: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(failure["error"]["code"], "protocol");

    // Bob leaves; alice is alone and the group says so.
    group("leave", &bob, &[&id]);
    json("sync", &alice, &[]);
    let listed = group("list", &alice, &[]);
    assert_eq!(
        listed["groups"][0]["members"],
        serde_json::json!(["alice/1"])
    );
    assert_eq!(listed["groups"][0]["epoch"], 2);

    // The text form: one line per message.
    let output = fuin()
        .args(["group", "history", "--store"])
        .arg(&bob)
        .arg(&id)
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].ends_with("alice/1: hello all"), "{text}");
    assert!(
        lines[2].contains("[epoch 1] alice/1: without carol"),
        "{text}"
    );
}

#[test]
fn a_file_shared_in_a_group_is_fetched_and_checked_by_every_member() {
    use sha2::Digest;
    let relay = RelayProcess::start();
    let stores = Stores::new();
    let alice = stores.init(&relay.url, "alice", "alice", 1);
    let bob = stores.init(&relay.url, "bob", "bob", 1);
    let carol = stores.init(&relay.url, "carol", "carol", 1);
    let id = group("create", &alice, &["bob", "carol"])["group"]
        .as_str()
        .unwrap()
        .to_owned();
    for store in [&bob, &carol, &alice, &bob, &carol] {
        json("sync", store, &[]);
    }
    let files = tempfile::tempdir().unwrap();
    let photo = files.path().join("lunch.png");
    noisy_png(&photo, 120, 60, 777);
    let original = std::fs::read(&photo).unwrap();
    let hash = hex::encode(sha2::Sha256::digest(&original));

    let sent = group("send-file", &alice, &[&id[..10], photo.to_str().unwrap()]);
    assert_eq!(sent["group"], id);
    assert_eq!(sent["devices"], 2);
    assert_eq!(sent["status"], "sent");
    assert_eq!(sent["sha256"], hash);
    // Fitted to 160 on its longer side, keeping the 2:1 shape.
    assert_eq!(sent["thumbnail"]["width"], 160);
    assert_eq!(sent["thumbnail"]["height"], 80);
    for (n, store) in [&bob, &carol].into_iter().enumerate() {
        json("sync", store, &[]);
        let history = group("history", store, &[&id]);
        let entry = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["attachment"] == true)
            .expect("the share is in the history")
            .clone();
        assert!(
            entry["text"]
                .as_str()
                .unwrap()
                .starts_with("[lunch.png: image/png"),
            "{entry}"
        );
        let local = entry["local_id"].to_string();
        let out = files.path().join(format!("got-{n}.png"));
        let fetched = group("fetch", store, &[&local, out.to_str().unwrap()]);
        assert_eq!(std::fs::read(&out).unwrap(), original);
        assert_eq!(fetched["sha256"], hash);
        assert_eq!(fetched["blob_id"], sent["blob_id"]);
        let thumb = files.path().join(format!("thumb-{n}.png"));
        let fetched = group(
            "fetch",
            store,
            &[&local, thumb.to_str().unwrap(), "--thumbnail"],
        );
        assert_eq!(fetched["width"], 160);
        let decoded = image::open(&thumb).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (160, 80));
    }
}

#[test]
fn members_give_an_audience_their_own_identifiers_until_the_group_shares_a_consent() {
    let relay = RelayProcess::start();
    let stores = Stores::new();
    let alice = stores.init(&relay.url, "alice", "alice", 1);
    let bob = stores.init(&relay.url, "bob", "bob", 1);
    let id = group("create", &alice, &["bob"])["group"]
        .as_str()
        .unwrap()
        .to_owned();
    for store in [&bob, &alice, &bob] {
        json("sync", store, &[]);
    }
    let own = |store: &std::path::Path, audience: &str| {
        json("identifier", store, &[audience, "--group", &id])["identifier"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let alices = own(&alice, "poll-app");
    assert_eq!(alices.len(), 64);
    assert_ne!(alices, own(&bob, "poll-app"));
    assert_ne!(alices, own(&alice, "weather-bot"));
    assert_eq!(alices, own(&alice, "poll-app"));
    let shared = |store: &std::path::Path| {
        json(
            "identifier",
            store,
            &["poll-app", "--group", &id, "--shared"],
        )["identifier"]
            .clone()
    };
    assert_eq!(shared(&alice), serde_json::Value::Null);

    let changed = group("share-consent", &bob, &[&id]);
    assert_eq!(changed["epoch"], 1);
    let synced = json("sync", &alice, &[]);
    assert!(
        synced["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "group_changed" && e["change"] == "consent_shared"),
        "{synced}"
    );
    let value = shared(&alice);
    assert_eq!(value.as_str().unwrap().len(), 64);
    assert_eq!(value, shared(&bob));
    assert_ne!(value.as_str().unwrap(), alices);
}
