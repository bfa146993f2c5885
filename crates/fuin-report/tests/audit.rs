//! The audit log: every opening is recorded, and an edited, removed,
//! inserted or reordered record is found (and named) by the verifier.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use fuin_report::{AuditLog, ReportError, Verdict, render_log, verify_file, verify_log};

/// A log file with four openings: three reports by bob/1, the second
/// opened twice.
fn log_with_four_records(dir: &Path) -> (PathBuf, World) {
    let mut world = World::new(40);
    let path = dir.join("audit.log");
    let moderator = world.moderator();
    let mut audit = AuditLog::open(&path).unwrap();
    for (i, body) in [&b"one"[..], b"two", b"three"].into_iter().enumerate() {
        let message = world.send(&address("carol", 1), &address("bob", 1), body);
        let content = world.content(&address("bob", 1), "carol", vec![message.reported()]);
        let frame = world.seal(&content);
        let inbox = world.inbox(&address("bob", 1), &frame);
        let name = format!("moderator-{i}");
        moderator
            .open(&mut audit, &name, &inbox, OPENED_AT + i as u64)
            .unwrap();
        if i == 1 {
            moderator
                .open(&mut audit, &name, &inbox, OPENED_AT + 10)
                .unwrap();
        }
    }
    assert_eq!(audit.head().records, 4);
    (path, world)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn joined(lines: &[String]) -> Vec<u8> {
    let mut out = lines.join("\n").into_bytes();
    out.push(b'\n');
    out
}

fn broken_at(bytes: &[u8]) -> u64 {
    match verify_log(bytes) {
        Err(ReportError::AuditBroken { record, .. }) => record,
        other => panic!("expected a broken log, got {other:?}"),
    }
}

#[test]
fn an_intact_log_verifies_and_names_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = log_with_four_records(dir.path());
    let (records, head) = verify_file(&path).unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(head.records, 4);
    assert_eq!(head.hash, records[3].hash);
    assert_eq!(records[0].prev, [0; 32]);
    for pair in records.windows(2) {
        assert_eq!(pair[1].prev, pair[0].hash);
    }
    assert_eq!(records[2].moderator, "moderator-1");
    assert_eq!(records[2].counted.len(), 0, "the repeat counted nothing");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn an_edited_record_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = log_with_four_records(dir.path());
    let mut edited = lines(&path);
    // Someone changes who opened report 2, and the time.
    edited[1] = edited[1]
        .replace("moderator-1", "moderator-9")
        .replace(&format!("\"time_ms\":{}", OPENED_AT + 1), "\"time_ms\":1");
    assert_ne!(edited[1], lines(&path)[1]);
    assert_eq!(broken_at(&joined(&edited)), 2);

    // Each counted field edited on its own.
    let original = lines(&path);
    for (from, to) in [
        ("\"verified\":1", "\"verified\":0"),
        ("\"outcome\":\"opened\"", "\"outcome\":\"refused\""),
        ("\"reporter_device\":1", "\"reporter_device\":2"),
    ] {
        let mut edited = original.clone();
        assert!(edited[0].contains(from), "{from}");
        edited[0] = edited[0].replace(from, to);
        assert_eq!(broken_at(&joined(&edited)), 1, "{from}");
    }
}

#[test]
fn an_edited_and_rehashed_record_is_found_at_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = log_with_four_records(dir.path());
    let mut records = verify_log(&std::fs::read(&path).unwrap()).unwrap();
    // An attacker with write access edits record 2 and gives it a matching
    // hash: the record after it no longer follows it.
    records[1].moderator = "nobody".into();
    records[1].rehash();
    assert_eq!(broken_at(&render_log(&records)), 3);
}

#[test]
fn a_removed_record_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = log_with_four_records(dir.path());
    for removed in 0..3 {
        let mut fewer = lines(&path);
        fewer.remove(removed);
        assert_eq!(broken_at(&joined(&fewer)), removed as u64 + 1);
    }
    // Removed and the later ones renumbered and rehashed as far as a
    // forger can: the first renumbered record does not follow its new
    // predecessor.
    let mut records = verify_log(&std::fs::read(&path).unwrap()).unwrap();
    records.remove(1);
    for (i, record) in records.iter_mut().enumerate().skip(1) {
        record.seq = i as u64 + 1;
        record.rehash();
    }
    assert_eq!(broken_at(&render_log(&records)), 2);
}

#[test]
fn reordered_and_inserted_records_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = log_with_four_records(dir.path());
    let mut swapped = lines(&path);
    swapped.swap(1, 2);
    assert_eq!(broken_at(&joined(&swapped)), 2);
    let mut swapped = lines(&path);
    swapped.swap(0, 3);
    assert_eq!(broken_at(&joined(&swapped)), 1);
    let mut repeated = lines(&path);
    let copy = repeated[1].clone();
    repeated.insert(2, copy);
    assert_eq!(broken_at(&joined(&repeated)), 3);
}

#[test]
fn garbage_and_an_incomplete_last_record_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = log_with_four_records(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(broken_at(&bytes[..bytes.len() - 1]), 4);
    let mut garbage = lines(&path);
    garbage[2] = "not a record".into();
    assert_eq!(broken_at(&joined(&garbage)), 3);
    let mut blank = lines(&path);
    blank.insert(1, String::new());
    assert_eq!(broken_at(&joined(&blank)), 2);
    let mut extra_field = lines(&path);
    extra_field[0] = extra_field[0].replacen('{', "{\"note\":\"x\",", 1);
    assert_eq!(broken_at(&joined(&extra_field)), 1);
}

#[test]
fn a_lost_tail_shows_only_against_a_kept_head() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = log_with_four_records(dir.path());
    let (_, head) = verify_file(&path).unwrap();
    // The last record removed: the chain that is left is intact...
    let mut fewer = lines(&path);
    fewer.pop();
    let records = verify_log(&joined(&fewer)).unwrap();
    // ...and only the head kept elsewhere shows the loss (spec/report.md §7).
    assert_eq!(records.len(), 3);
    assert_ne!(records.last().unwrap().hash, head.hash);
}

#[test]
fn a_broken_log_is_not_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = log_with_four_records(dir.path());
    let mut edited = lines(&path);
    edited[3] = edited[3].replace("moderator-2", "moderator-x");
    std::fs::write(&path, joined(&edited)).unwrap();
    assert!(matches!(
        AuditLog::open(&path),
        Err(ReportError::AuditBroken { record: 4, .. })
    ));
}

#[test]
fn a_reopened_log_remembers_what_was_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let mut world = World::new(41);
    let message = world.send(&address("carol", 1), &address("bob", 1), b"once");
    let content = world.content(&address("bob", 1), "carol", vec![message.reported()]);
    let frame = world.seal(&content);
    let inbox = world.inbox(&address("bob", 1), &frame);
    let moderator = world.moderator();
    {
        let mut audit = AuditLog::open(&path).unwrap();
        let report = moderator.open(&mut audit, "mo", &inbox, OPENED_AT).unwrap();
        assert_eq!(report.messages[0].verdict, Verdict::Verified);
    }
    let mut audit = AuditLog::open(&path).unwrap();
    assert_eq!(audit.head().records, 1);
    let report = moderator.open(&mut audit, "mo", &inbox, OPENED_AT).unwrap();
    assert_eq!(report.messages[0].verdict, Verdict::Duplicate);
    assert_eq!(report.audit_record.seq, 2);
    assert_eq!(verify_file(&path).unwrap().0.len(), 2);
}

#[test]
fn an_invalid_moderator_name_opens_nothing() {
    let mut world = World::new(42);
    let message = world.send(&address("carol", 1), &address("bob", 1), b"x");
    let content = world.content(&address("bob", 1), "carol", vec![message.reported()]);
    let frame = world.seal(&content);
    let inbox = world.inbox(&address("bob", 1), &frame);
    let mut audit = AuditLog::in_memory();
    for name in ["", "   ", "a\nb", &"m".repeat(65)] {
        assert_eq!(
            world
                .moderator()
                .open(&mut audit, name, &inbox, OPENED_AT)
                .unwrap_err(),
            ReportError::InvalidModeratorName
        );
    }
    assert!(audit.memory().is_empty());
}

/// `count` reports by bob/1, each of one distinct message from carol.
fn distinct_reports(world: &mut World, count: usize) -> Vec<fuin_wire::relay::InboxEntry<'static>> {
    (0..count)
        .map(|i| {
            let body = format!("message {i}");
            let message = world.send(&address("carol", 1), &address("bob", 1), body.as_bytes());
            let content = world.content(&address("bob", 1), "carol", vec![message.reported()]);
            let frame = world.seal(&content);
            world.inbox(&address("bob", 1), &frame)
        })
        .collect()
}

#[test]
fn two_moderators_with_stale_views_append_one_chain() {
    let mut world = World::new(43);
    let reports = distinct_reports(&mut world, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    // Both open the empty log before either appends: each one's view of the
    // head is stale once the other has written.
    let mut first = AuditLog::open(&path).unwrap();
    let mut second = AuditLog::open(&path).unwrap();
    let moderator = world.moderator();
    let a = moderator
        .open(&mut first, "ann", &reports[0], OPENED_AT)
        .unwrap();
    let b = moderator
        .open(&mut second, "ben", &reports[1], OPENED_AT)
        .unwrap();
    assert_eq!((a.audit_record.seq, b.audit_record.seq), (1, 2));
    assert_eq!(b.audit_record.prev, a.audit_record.hash);
    let a2 = moderator
        .open(&mut first, "ann", &reports[1], OPENED_AT)
        .unwrap();
    assert_eq!(a2.audit_record.seq, 3);
    assert_eq!(a2.audit_record.prev, b.audit_record.hash);
    // ann's log learned of ben's count when it appended after it.
    assert_eq!(a2.messages[0].verdict, Verdict::Duplicate);
    let (records, head) = verify_file(&path).unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(head, first.head());
}

#[test]
fn a_message_opened_by_two_moderators_at_once_is_counted_once() {
    let mut world = World::new(44);
    let report = distinct_reports(&mut world, 1).remove(0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let mut first = AuditLog::open(&path).unwrap();
    let mut second = AuditLog::open(&path).unwrap();
    let moderator = world.moderator();
    let a = moderator
        .open(&mut first, "ann", &report, OPENED_AT)
        .unwrap();
    // ben's log was opened before ann counted the message; under the lock
    // it reads ann's record before deciding.
    let b = moderator
        .open(&mut second, "ben", &report, OPENED_AT)
        .unwrap();
    assert_eq!(a.messages[0].verdict, Verdict::Verified);
    assert_eq!(b.messages[0].verdict, Verdict::Duplicate);
}

#[test]
fn many_moderators_appending_at_once_leave_one_chain_with_every_record() {
    const MODERATORS: usize = 8;
    const REPORTS: usize = 12;
    const ROUNDS: usize = 4;
    let mut world = World::new(45);
    let reports = std::sync::Arc::new(distinct_reports(&mut world, REPORTS));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let start = std::sync::Arc::new(std::sync::Barrier::new(MODERATORS));
    let workers: Vec<_> = (0..MODERATORS)
        .map(|m| {
            let (reports, start, path) = (reports.clone(), start.clone(), path.clone());
            let moderator = world.moderator();
            std::thread::spawn(move || {
                // Each moderator has its own open file, as a second process
                // would.
                let mut audit = AuditLog::open(&path).unwrap();
                let name = format!("moderator-{m}");
                start.wait();
                for round in 0..ROUNDS {
                    for i in 0..REPORTS {
                        let report = &reports[(i + m + round) % REPORTS];
                        moderator
                            .open(&mut audit, &name, report, OPENED_AT)
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let (records, head) = verify_file(&path).unwrap();
    assert_eq!(records.len(), MODERATORS * REPORTS * ROUNDS);
    assert_eq!(head.records, (MODERATORS * REPORTS * ROUNDS) as u64);
    for m in 0..MODERATORS {
        let name = format!("moderator-{m}");
        let by = records.iter().filter(|r| r.moderator == name).count();
        assert_eq!(by, REPORTS * ROUNDS, "{name}'s records");
    }
    for report in reports.iter() {
        let openings = records
            .iter()
            .filter(|r| r.report_id == report.report_id)
            .count();
        assert_eq!(openings, MODERATORS * ROUNDS);
    }
    // Each message was counted by exactly one opening.
    let counted: usize = records.iter().map(|r| r.counted.len()).sum();
    assert_eq!(counted, REPORTS);
}
