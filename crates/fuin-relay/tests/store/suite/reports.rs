//! Abuse reports: kept oldest first until acknowledged or expired.

use fuin_relay::store::{Store, StoreError, StoredReport};
use fuin_wire::relay::ReportId;

use crate::{LATER, NOW, address, new_report, report_ids};

/// Reports come back oldest first, with their reporter and time, within
/// the count and the byte budget (the oldest whatever its size), until
/// acknowledged or expired. A repeated report id is refused.
pub async fn reports_are_fetched_oldest_first_until_acknowledged_or_expired(store: &impl Store) {
    let alice = address("alice", 1);
    let bob = address("bob", 7);
    assert_eq!(store.fetch_reports(10, 1 << 20, NOW).await, Ok(vec![]));
    // Submitted out of order of their times.
    let r1 = new_report(&alice, NOW + 2, LATER, &[1; 300]);
    let r0 = new_report(&bob, NOW, LATER, &[0; 500]);
    let r2 = new_report(&alice, NOW + 3, NOW + 100, &[2; 100]);
    for report in [&r1, &r0, &r2] {
        store.put_report(report.clone()).await.unwrap();
    }

    let all = store.fetch_reports(10, 1 << 20, NOW).await.unwrap();
    assert_eq!(
        report_ids(&all),
        vec![r0.report_id, r1.report_id, r2.report_id]
    );
    assert_eq!(
        all[0],
        StoredReport {
            report_id: r0.report_id,
            reporter: bob.clone(),
            received_at_ms: NOW,
            report: vec![0; 500],
        }
    );
    assert_eq!(all[1].reporter, alice);
    assert_eq!(all[1].report, vec![1; 300]);
    // Fetching removes nothing.
    assert_eq!(store.fetch_reports(10, 1 << 20, NOW).await, Ok(all.clone()));

    // The count limit, and the byte budget.
    let oldest_two = report_ids(&all[..2]);
    assert_eq!(
        report_ids(&store.fetch_reports(2, 1 << 20, NOW).await.unwrap()),
        oldest_two
    );
    assert_eq!(
        report_ids(&store.fetch_reports(10, 800, NOW).await.unwrap()),
        oldest_two
    );
    assert_eq!(
        report_ids(&store.fetch_reports(10, 899, NOW).await.unwrap()),
        oldest_two
    );
    assert_eq!(store.fetch_reports(10, 900, NOW).await.unwrap().len(), 3);
    assert_eq!(
        report_ids(&store.fetch_reports(10, 799, NOW).await.unwrap()),
        vec![r0.report_id]
    );
    // The oldest comes even over the budget.
    assert_eq!(
        report_ids(&store.fetch_reports(10, 1, NOW).await.unwrap()),
        vec![r0.report_id]
    );
    assert_eq!(store.fetch_reports(0, 1 << 20, NOW).await, Ok(vec![]));

    // A report id already stored is refused, and the stored one stays.
    let mut again = new_report(&alice, NOW + 5, LATER, b"other");
    again.report_id = r1.report_id;
    assert!(matches!(
        store.put_report(again).await,
        Err(StoreError::Backend(_))
    ));
    assert_eq!(store.fetch_reports(10, 1 << 20, NOW).await, Ok(all));

    // Acknowledged ones go; unknown ids and repeats are ignored.
    let unknown = ReportId([0xee; 16]);
    assert_eq!(
        store
            .ack_reports(&[r0.report_id, unknown, r0.report_id])
            .await,
        Ok(1)
    );
    assert_eq!(store.ack_reports(&[]).await, Ok(0));
    assert_eq!(
        report_ids(&store.fetch_reports(10, 1 << 20, NOW).await.unwrap()),
        vec![r1.report_id, r2.report_id]
    );

    // Expired ones are never fetched, and `expire` deletes them.
    assert_eq!(
        report_ids(&store.fetch_reports(10, 1 << 20, NOW + 100).await.unwrap()),
        vec![r1.report_id]
    );
    store.expire(NOW + 100).await.unwrap();
    assert_eq!(
        report_ids(&store.fetch_reports(10, 1 << 20, NOW).await.unwrap()),
        vec![r1.report_id]
    );
    assert_eq!(store.ack_reports(&[r2.report_id]).await, Ok(0));
    assert_eq!(store.ack_reports(&[r1.report_id]).await, Ok(1));
    assert_eq!(store.fetch_reports(10, 1 << 20, NOW).await, Ok(vec![]));
}
