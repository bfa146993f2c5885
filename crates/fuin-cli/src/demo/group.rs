//! The demo's group conversation: alice, bob (both his devices) and carol
//! talk in a group; alice removes carol midway; carol's device shows that
//! it receives nothing of what follows, while the others go on.

use fuin_client::{Client, Event, EventStreamItem, GroupEntry, GroupStatus};
use fuin_relay::store::{NewDelivery, Store};
use fuin_wire::{ContentKind, DeliveredRecord, FrameBody, MessageId};

use super::{Demo, NOW};
use crate::output::Failure;
use crate::views;

/// What is said in the group (the demo test looks for these sentences).
pub(super) const GROUP_BEFORE: [&str; 3] = [
    "Group lunch on Friday, who is in?",
    "Count me in.",
    "Me too, from my phone.",
];
/// Said after carol was removed.
pub(super) const GROUP_AFTER: [&str; 2] = [
    "Carol is out of the group now; Saturday instead?",
    "Saturday works, from my laptop.",
];

/// `  bob/1: "text"`, with `(you)` after the sender for the user's own.
fn entry_line(entry: &GroupEntry) -> String {
    let you = if entry.outgoing { " (you)" } else { "" };
    format!(
        "{}{you}: \"{}\"  (epoch {})",
        entry.sender,
        views::printable(&entry.text),
        entry.epoch
    )
}

impl Demo {
    fn members(&self) -> [(&'static str, &Client); 4] {
        [
            ("alice/1", &self.alice),
            ("bob/1", &self.bob_phone),
            ("bob/2", &self.bob_laptop),
            ("carol/1", &self.carol),
        ]
    }

    /// Every device syncs, twice (a device that joins hands out its key
    /// during its sync; the others take it at their next).
    async fn group_sync(&self) -> Result<(), Failure> {
        for _ in 0..2 {
            for (_, device) in self.members() {
                device.sync(NOW).await?;
            }
        }
        Ok(())
    }

    async fn show_group(&mut self, group: &str, who: &[&str]) -> Result<(), Failure> {
        let mut lines = Vec::new();
        for (name, device) in self.members() {
            if !who.contains(&name) {
                continue;
            }
            let history = device.group_history(group, 20).await?;
            lines.push(format!(
                "{name} holds {} group messages{}",
                history.len(),
                if history.is_empty() { "" } else { ":" }
            ));
            for entry in &history {
                lines.push(format!("    {}", entry_line(entry)));
            }
        }
        self.out.lines(lines);
        Ok(())
    }

    /// The group steps.
    pub(super) async fn group_conversation(&mut self) -> Result<(), Failure> {
        let group = self.alice.create_group(&["bob", "carol"]).await?;
        let id = group.id.clone();
        self.out.step(
            "alice makes a group with bob and carol; her welcome and sender key go to each member device over its 1:1 session.",
        );
        let members: Vec<String> = group.members.iter().map(ToString::to_string).collect();
        self.out.line(format!(
            "group {}… epoch {}, members {}",
            &id[..12],
            group.epoch,
            members.join(", ")
        ));
        self.group_sync().await?;

        let sent = self.alice.send_group_text(&id, GROUP_BEFORE[0]).await?;
        self.out.step(
            "alice writes to the group: sealed once, signed by her sender key, and fanned out by the relay.",
        );
        self.out.line(format!(
            "alice/1 → group: \"{}\"  (one ciphertext for {} devices, {})",
            GROUP_BEFORE[0],
            sent.devices,
            sent.status.as_str()
        ));
        self.group_sync().await?;
        self.carol.send_group_text(&id, GROUP_BEFORE[1]).await?;
        self.bob_phone.send_group_text(&id, GROUP_BEFORE[2]).await?;
        self.group_sync().await?;
        self.show_group(&id, &["bob/2", "carol/1"]).await?;

        let changed = self.alice.remove_group_members(&id, &["carol"]).await?;
        self.out.step(
            "alice removes carol: a signed change starts a new epoch, and the members left make fresh sender keys that carol never gets.",
        );
        let members: Vec<String> = changed.members.iter().map(ToString::to_string).collect();
        self.out.line(format!(
            "epoch {}, members {}",
            changed.epoch,
            members.join(", ")
        ));
        self.group_sync().await?;

        let sent = self.alice.send_group_text(&id, GROUP_AFTER[0]).await?;
        let leaked = self.leak_to_carol().await?;
        self.bob_laptop.send_group_text(&id, GROUP_AFTER[1]).await?;
        self.group_sync().await?;
        self.out.step(
            "The group goes on without carol: alice and bob's laptop write in the new epoch.",
        );
        self.out.line(format!(
            "alice/1 → group: \"{}\"  (one ciphertext for {} devices)",
            GROUP_AFTER[0], sent.devices
        ));
        self.show_group(&id, &["alice/1", "bob/1"]).await?;

        self.out.step(
            "carol's device after the change: it keeps what it was sent before and can read nothing after.",
        );
        let carol_groups = self.carol.groups().await?;
        let status = carol_groups
            .iter()
            .find(|g| g.id == id)
            .map(|g| match g.status {
                GroupStatus::Member => "a member",
                GroupStatus::Removed => "removed",
                GroupStatus::Left => "gone",
            })
            .unwrap_or("unknown");
        self.out
            .line(format!("carol/1 sees herself as {status} from the group"));
        self.show_group(&id, &["carol/1"]).await?;
        let refused = match self.carol.send_group_text(&id, "Wait for me!").await {
            Ok(_) => "accepted (it should not be)".to_owned(),
            Err(err) => format!("refused: {err}"),
        };
        self.out
            .line(format!("carol/1 trying to write to the group: {refused}"));
        self.out.line(format!(
            "The relay tried anyway: it handed carol/1 a copy of alice's new message, addressed to her. {leaked}"
        ));
        Ok(())
    }

    /// The relay misbehaves once: it copies bob's phone's delivery of the
    /// newest group message into carol's mailbox, addressed and stamped for
    /// her. Carol's device syncs; what it did with the copy.
    async fn leak_to_carol(&mut self) -> Result<String, Failure> {
        let failed = |why: String| {
            Failure::new(
                "demo_relay",
                format!("the demo failed: {why}"),
                "run the demo again; if it keeps failing, report it",
            )
        };
        let store = self.relay.relay.store();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as u64);
        let bob = self.bob_phone.address().clone();
        let carol = self.carol.address().clone();
        let waiting = store
            .fetch(&bob, 100, now)
            .await
            .map_err(|err| failed(err.to_string()))?;
        let Some(mut record) = waiting
            .iter()
            .filter_map(|stored| DeliveredRecord::from_bytes(&stored.record).ok())
            .rfind(|record| record.envelope.content_kind == ContentKind::GroupMessage)
            .map(DeliveredRecord::into_owned)
        else {
            return Err(failed("no group message waits for bob/1".into()));
        };
        let mut id = [0u8; 16];
        rand::fill(&mut id);
        record.envelope.recipient = carol.clone();
        record.server_message_id = MessageId(id);
        let bytes = record.to_bytes().map_err(|err| failed(err.to_string()))?;
        store
            .deliver(vec![NewDelivery {
                message_id: MessageId(id),
                recipient: carol,
                record: bytes,
                expires_at_ms: now + 60_000,
            }])
            .await
            .map_err(|err| failed(err.to_string()))?;
        let mut events = self.carol.events();
        self.carol.sync(NOW).await?;
        let mut outcome = "carol/1 showed it (it should not have)".to_owned();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            let next = events.next();
            let next = std::pin::pin!(next);
            match next.poll(&mut cx) {
                std::task::Poll::Ready(Some(EventStreamItem::Event(Event::MessageDropped {
                    reason,
                    ..
                }))) => outcome = format!("carol/1 refused it: {reason}"),
                std::task::Poll::Ready(Some(_)) => {}
                _ => break,
            }
        }
        Ok(outcome)
    }
}
