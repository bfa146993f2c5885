//! `fuin demo` runs to the end and shows, from the relay's own database,
//! that the relay holds only sealed envelopes, and nothing once they are
//! acknowledged; that bob's laptop is linked with a link code the relay
//! sees only sealed; that a ghost device the relay slips into bob's list
//! is refused and gets nothing; and that a report discloses the one
//! message reported, verified by moderation and recorded in its audit log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::fuin;

/// What the demo's users say (the demo's source has the same sentences).
const DEMO_TEXTS: [&str; 7] = [
    "Hi Bob! Lunch tomorrow at noon?",
    GHOST_STEP_TEXT,
    "Sure, see you at noon.",
    "Carol, are you coming to lunch too?",
    "We meet at the station at noon.",
    "Bring an umbrella, it may rain.",
    REPORTED,
];

/// What alice says to bob after the relay edited his device list.
const GHOST_STEP_TEXT: &str = "Did the photo arrive on both of your devices?";

/// The message bob reports.
const REPORTED: &str = "Send me your bank password or your photos go online.";

const DATABASE_HEADING: &str = "What the relay's database holds now";

/// What is said in the demo's group before carol is removed, and after.
const GROUP_BEFORE: [&str; 3] = [
    "Group lunch on Friday, who is in?",
    "Count me in.",
    "Me too, from my phone.",
];
const GROUP_AFTER: [&str; 2] = [
    "Carol is out of the group now; Saturday instead?",
    "Saturday works, from my laptop.",
];

/// The lines of `part` under the heading line that contains `heading`, up
/// to the next line at the same or a lesser indentation.
fn block<'a>(part: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = part.lines().skip_while(|line| !line.contains(heading));
    let Some(first) = lines.next() else {
        panic!("no {heading:?} in:\n{part}");
    };
    let indent = first.len() - first.trim_start().len();
    lines
        .take_while(|line| line.len() - line.trim_start().len() > indent)
        .collect()
}

/// Checks the link step: the laptop shows a code of 60 digits, bob's phone
/// approves it, and the relay held only sealed bytes, none of them after.
fn check_link_step(devices_part: &str) {
    let (_, link_part) = devices_part
        .split_once("bob links his laptop to his account")
        .unwrap_or_else(|| panic!("no link step:\n{devices_part}"));
    let link_part = link_part
        .split_once("\n\n")
        .map_or(link_part, |(step, _)| step);
    let code = link_part
        .lines()
        .find_map(|line| {
            line.trim_start()
                .strip_prefix("bob's laptop shows   link code ")
        })
        .unwrap_or_else(|| panic!("no code shown:\n{link_part}"));
    assert_eq!(code.len(), 71, "{code}");
    assert_eq!(code.split(' ').count(), 12, "{code}");
    assert!(
        code.bytes().all(|b| b == b' ' || b.is_ascii_digit()),
        "{code}"
    );
    assert!(
        link_part.contains("The relay holds the laptop's request: channel "),
        "{link_part}"
    );
    assert!(
        link_part.contains("bob/1 phone, bob/2 laptop"),
        "{link_part}"
    );
    assert!(
        link_part.contains("The laptop is bob/2 (\"laptop\"). The relay saw only sealed bytes (")
            && link_part.contains("and now holds 0 of them."),
        "{link_part}"
    );
}

/// Checks the ghost step: the relay adds bob/3 to bob's list; alice's device
/// refuses the list and seals nothing to bob/3; bob's phone reads alice.
fn check_ghost_step(devices_part: &str) {
    let (_, ghost_part) = devices_part
        .split_once("The relay tries to slip a ghost device into bob's account")
        .unwrap_or_else(|| panic!("no ghost step:\n{devices_part}"));
    let ghost_part = ghost_part
        .split_once("\n\n")
        .map_or(ghost_part, |(step, _)| step);
    assert!(
        ghost_part.contains("naming bob/1, bob/2 and bob/3; its devices table has a row for bob/3"),
        "{ghost_part}"
    );
    assert!(
        ghost_part.contains(&format!(
            "alice/1 → bob: \"{GHOST_STEP_TEXT}\"  (sealed for 2 devices, sent)"
        )),
        "{ghost_part}"
    );
    assert!(
        ghost_part.contains(
            "alice/1 refused it: the relay served a device list of bob that was refused: "
        ),
        "{ghost_part}"
    );
    assert!(
        ghost_part.contains(
            "The relay's mailbox holds 0 envelopes for bob/3, 1 for bob/1 and 1 for bob/2"
        ),
        "{ghost_part}"
    );
    assert!(
        ghost_part.contains(&format!("bob/1 shows   alice/1: \"{GHOST_STEP_TEXT}\"")),
        "{ghost_part}"
    );
}

/// Checks the group steps: everyone reads the messages of epoch 0; after
/// carol's removal alice and bob read the new ones and carol's device holds
/// exactly what it had, is marked removed, and may not write.
fn check_group_steps(devices_part: &str) {
    let (_, group_part) = devices_part
        .split_once("alice makes a group with bob and carol")
        .unwrap_or_else(|| panic!("no group step:\n{devices_part}"));
    assert!(
        group_part.contains("members alice/1, bob/1, bob/2, carol/1"),
        "{group_part}"
    );
    assert!(group_part.contains("(one ciphertext for 3 devices, sent)"));
    assert!(group_part.contains("epoch 1, members alice/1, bob/1, bob/2\n"));
    let (before_removal, after_removal) = group_part
        .split_once("alice removes carol")
        .unwrap_or_else(|| panic!("no removal step:\n{group_part}"));
    let carol_before = block(before_removal, "carol/1 holds 3 group messages");
    assert_eq!(carol_before.len(), 3, "{before_removal}");
    for (line, text) in carol_before.iter().zip(GROUP_BEFORE) {
        assert!(line.contains(text) && line.ends_with("(epoch 0)"), "{line}");
    }
    assert!(after_removal.contains("(one ciphertext for 2 devices)"));
    for reader in [
        "alice/1 holds 5 group messages",
        "bob/1 holds 5 group messages",
    ] {
        let lines = block(after_removal, reader);
        assert_eq!(lines.len(), 5, "{after_removal}");
        for (line, text) in lines.iter().zip(GROUP_BEFORE.iter().chain(&GROUP_AFTER)) {
            assert!(line.contains(text), "{line}");
        }
        assert!(lines[3].ends_with("(epoch 1)") && lines[4].ends_with("(epoch 1)"));
    }
    let (_, carol_part) = after_removal
        .split_once("carol's device after the change")
        .unwrap_or_else(|| panic!("no step for carol's device:\n{after_removal}"));
    let carol_part = carol_part
        .split_once("\n\n")
        .map_or(carol_part, |(step, _)| step);
    assert!(carol_part.contains("carol/1 sees herself as removed from the group"));
    let carol_after = block(carol_part, "carol/1 holds 3 group messages");
    assert_eq!(carol_after, carol_before, "{carol_part}");
    for text in GROUP_AFTER {
        assert!(!carol_part.contains(text), "{carol_part}");
    }
    assert!(
        carol_part.contains("carol/1 trying to write to the group: refused: "),
        "{carol_part}"
    );
    // The relay handed her a copy of the new epoch's message anyway: her
    // device refused it (and the block above shows it did not store it).
    let leak = carol_part
        .lines()
        .find(|line| line.contains("The relay tried anyway"))
        .unwrap_or_else(|| panic!("no leak line:\n{carol_part}"));
    assert!(
        leak.contains("carol/1 refused it: group ") && leak.contains("not a member"),
        "{leak}"
    );
}

#[test]
fn the_demo_shows_the_conversation_and_a_relay_that_holds_no_text() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("demo");
    let output = fuin()
        .arg("demo")
        .arg("--dir")
        .arg(&kept)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let (devices_part, database_part) = stdout
        .split_once(DATABASE_HEADING)
        .unwrap_or_else(|| panic!("no database section in:\n{stdout}"));

    // The devices show every message.
    for text in DEMO_TEXTS {
        assert!(devices_part.contains(text), "{text:?} not shown:\n{stdout}");
    }
    assert!(devices_part.contains("alice/1 shows her message as delivered (receipt from bob/1)"));
    assert!(devices_part.contains("bob/2 shows   bob/1 (you): \"Sure, see you at noon.\""));
    assert!(devices_part.contains("They are equal"), "{stdout}");
    // Every session is made by the hybrid handshake, and the demo says so.
    assert!(
        devices_part.contains(
            "alice/1's sessions with bob's 2 devices are post-quantum hybrid (X25519 + ML-KEM-768)"
        ),
        "{stdout}"
    );
    check_link_step(devices_part);
    check_group_steps(devices_part);
    check_ghost_step(devices_part);
    // Before carol's catch-up the relay holds her three envelopes, shown by
    // id, recipient and size only; afterwards none.
    assert!(
        devices_part.contains("3 of them for carol/1"),
        "{devices_part}"
    );
    let carol_rows: Vec<&str> = devices_part
        .lines()
        .filter(|line| line.trim_start().starts_with("id ") && line.contains("for carol/1"))
        .collect();
    assert_eq!(carol_rows.len(), 3, "{devices_part}");
    for row in carol_rows {
        assert!(row.ends_with(" bytes, sealed"), "{row}");
    }
    assert!(
        devices_part.contains(
            "The relay held 3 envelopes for carol/1; after her acknowledgement it holds 0."
        )
    );

    // The photo: bob's phone wrote exactly the file alice's sent, with a
    // thumbnail at most 160 pixels on a side; the relay holds none of it.
    let photo = std::fs::read(kept.join("alice-photo.png")).unwrap();
    let received = std::fs::read(kept.join("bob-received-photo.png")).unwrap();
    assert!(photo.len() > 64 * 1024, "the photo spans several chunks");
    assert_eq!(received, photo);
    let photo_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&photo));
    let sent_line = devices_part
        .lines()
        .find(|line| line.contains("alice/1 → bob: alice-photo.png"))
        .unwrap_or_else(|| panic!("no photo sent:\n{devices_part}"));
    assert!(
        sent_line.contains(&format!(
            "{} bytes, SHA-256 {}…",
            photo.len(),
            &photo_hash[..16]
        )),
        "{sent_line}"
    );
    assert!(
        devices_part.contains(&format!(
            "bob/1 wrote {} bytes to bob-received-photo.png, SHA-256 {}…",
            photo.len(),
            &photo_hash[..16]
        )),
        "{devices_part}"
    );
    assert!(
        devices_part.contains("Sizes and hashes match"),
        "{devices_part}"
    );
    assert!(
        devices_part.contains("none holds the photo's bytes"),
        "{devices_part}"
    );
    let thumbnail_line = devices_part
        .lines()
        .find(|line| line.contains("bob/1 opened the thumbnail: "))
        .unwrap_or_else(|| panic!("no thumbnail opened:\n{devices_part}"));
    let dimensions = thumbnail_line
        .split("thumbnail: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap();
    let (width, height) = dimensions.split_once('×').unwrap();
    let (width, height): (u32, u32) = (width.parse().unwrap(), height.parse().unwrap());
    // The photo is 480 × 320: its thumbnail is 160 wide and keeps the shape.
    assert_eq!(width, 160, "{thumbnail_line}");
    assert!((105..=108).contains(&height), "{thumbnail_line}");
    assert!(
        thumbnail_line.ends_with("the one alice made"),
        "{thumbnail_line}"
    );

    // The report: bob's preview holds the one message, the relay holds it
    // sealed until moderation pulls it, and moderation verifies it.
    let (_, report_part) = devices_part
        .split_once("bob reports that one message")
        .unwrap_or_else(|| panic!("no report step:\n{devices_part}"));
    let preview: Vec<&str> = report_part
        .lines()
        .skip_while(|line| !line.contains("preview: reason"))
        .skip(1)
        .take_while(|line| line.trim_start().starts_with("carol/1: "))
        .collect();
    assert_eq!(
        preview,
        [format!("       carol/1: \"{REPORTED}\"")],
        "{report_part}"
    );
    assert!(
        report_part.contains("1 row in its reports table"),
        "{report_part}"
    );
    assert!(
        report_part.contains("1. VERIFIED from carol/1 at ") && report_part.contains(REPORTED),
        "{report_part}"
    );
    assert!(report_part.contains("Only that message was disclosed: moderation saw 1 of the"));
    assert!(report_part.contains("its chain verifies, head 1:"));
    assert!(report_part.contains("the relay's reports table holds 0 rows"));
    let audit_log = std::fs::read_to_string(kept.join("moderation/audit.log")).unwrap();
    assert_eq!(audit_log.lines().count(), 1);
    assert!(audit_log.contains("\"moderator\":\"moderator-1\""));
    assert!(
        !audit_log.contains(REPORTED),
        "the audit log holds no content"
    );

    // The database section: each table with its row count, an empty mailbox,
    // and not one word of the conversation.
    for table in [
        "accounts",
        "devices",
        "signed_prekeys",
        "one_time_prekeys",
        "challenges",
        "tokens",
        "mailbox",
        "reports",
    ] {
        assert!(
            database_part
                .lines()
                .any(|line| line.trim_start().starts_with(table) && line.contains(" rows")),
            "no line for {table}:\n{database_part}"
        );
    }
    let devices_line = database_part
        .lines()
        .find(|line| line.trim_start().starts_with("devices "))
        .unwrap();
    // alice/1, bob/1, bob/2, carol/1, and the ghost bob/3 the relay
    // registered for itself (it stays there, and gets nothing).
    assert!(devices_line.contains(" 5 rows"), "{devices_line}");
    let mailbox_line = database_part
        .lines()
        .find(|line| line.trim_start().starts_with("mailbox "))
        .unwrap();
    assert!(mailbox_line.contains(" 0 rows"), "{mailbox_line}");
    let reports_line = database_part
        .lines()
        .find(|line| line.trim_start().starts_with("reports "))
        .unwrap();
    assert!(reports_line.contains(" 0 rows"), "{reports_line}");
    assert!(database_part.contains("The mailbox is empty"));
    for text in DEMO_TEXTS.iter().chain(&GROUP_BEFORE).chain(&GROUP_AFTER) {
        assert!(!database_part.contains(text));
    }

    // The relay's files themselves hold none of what was said: its database
    // and the sealed blobs in the blob directory next to it.
    let mut relay_files: Vec<_> = std::fs::read_dir(&kept)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("relay.db")
        })
        .collect();
    assert!(relay_files.iter().any(|path| path.ends_with("relay.db")));
    let blob_dir = kept.join("relay.db.blobs");
    let blobs: Vec<_> = std::fs::read_dir(&blob_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    // The photo and its thumbnail.
    assert!(blobs.len() >= 2, "{blobs:?}");
    relay_files.retain(|path| *path != blob_dir);
    relay_files.extend(blobs);
    for path in &relay_files {
        let bytes = std::fs::read(path).unwrap();
        assert!(
            !bytes.windows(64).any(|window| window == &photo[4096..4160]),
            "the photo is in {}",
            path.display()
        );
        for text in DEMO_TEXTS.iter().chain(&GROUP_BEFORE).chain(&GROUP_AFTER) {
            assert!(
                !bytes
                    .windows(text.len())
                    .any(|window| window == text.as_bytes()),
                "{text:?} is in {}",
                path.display()
            );
        }
    }
}

#[test]
fn the_demo_in_json_gives_the_steps_and_the_database_views() {
    let output = fuin()
        .args(["--json", "demo"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(output.status.success());
    let demo: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let steps = demo["steps"].as_array().unwrap();
    assert!(steps.len() >= 10, "{demo}");
    assert!(steps.iter().all(|step| step["title"].is_string()));

    let before = &demo["relay_database"]["before_catch_up"]["mailbox"];
    let for_carol: Vec<_> = before
        .as_array()
        .unwrap()
        .iter()
        .filter(|envelope| envelope["recipient"] == "carol/1")
        .collect();
    assert_eq!(for_carol.len(), 3);
    for envelope in for_carol {
        // An id, a recipient and a size: nothing else about it is shown.
        let mut keys: Vec<_> = envelope.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["bytes", "id", "recipient"]);
        assert_eq!(envelope["id"].as_str().unwrap().len(), 32);
    }
    // While it waited, the relay's view of the report: an id, the reporter
    // and a size.
    let waiting = demo["relay_database"]["report_waiting"]["reports"]
        .as_array()
        .unwrap();
    assert_eq!(waiting.len(), 1);
    let mut keys: Vec<_> = waiting[0].as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["bytes", "id", "reporter"]);
    assert_eq!(waiting[0]["reporter"], "bob/1");
    assert_eq!(
        demo["relay_database"]["after_pull"]["reports"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // After the ghost step, nothing in the mailbox is for the ghost.
    let after_ghost = demo["relay_database"]["after_ghost"]["mailbox"]
        .as_array()
        .unwrap();
    assert!(!after_ghost.is_empty());
    assert!(
        after_ghost
            .iter()
            .all(|envelope| envelope["recipient"] != "bob/3"),
        "{after_ghost:?}"
    );
    let after = &demo["relay_database"]["at_the_end"];
    assert_eq!(after["mailbox"].as_array().unwrap().len(), 0);
    let mailbox_table = after["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|table| table["name"] == "mailbox")
        .unwrap();
    assert_eq!(mailbox_table["rows"], 0);
}
