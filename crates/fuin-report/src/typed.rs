//! Typed content as a moderator or a reporting user reads it: the type's
//! name and, for the built-in types that carry text, the text
//! (`spec/client.md` §14, `spec/report.md` §5).

use fuin_wire::content::{self, BuiltIn, TypedContent};

/// A typed body in words: `[type name] what it says`. The body is the
/// reported body byte for byte (its commitment verified it); a body that
/// does not decode is said to be so, never an error.
pub fn describe_typed(body: &[u8]) -> String {
    let Ok(typed) = TypedContent::from_bytes(body) else {
        return "[typed content that does not decode]".into();
    };
    let name = typed.type_name.as_str();
    let payload = typed.payload.as_bytes();
    let said = match name {
        content::EDIT => content::Edit::from_payload(payload)
            .map(|edit| {
                format!(
                    "edit of message {}: \"{}\"",
                    hex::encode(edit.target.0),
                    edit.text
                )
            })
            .ok(),
        content::DELETE => content::Delete::from_payload(payload)
            .map(|delete| format!("delete of message {}", hex::encode(delete.target.0)))
            .ok(),
        content::REACTION => content::Reaction::from_payload(payload)
            .map(|reaction| {
                format!(
                    "reaction \"{}\" to {}'s message {}",
                    reaction.reaction,
                    reaction.target.author,
                    hex::encode(reaction.target.id.0)
                )
            })
            .ok(),
        content::REPLY => content::Reply::from_payload(payload)
            .map(|reply| {
                format!(
                    "reply to {}'s message {}: \"{}\"",
                    reply.quote.author,
                    hex::encode(reply.quote.id.0),
                    reply.text
                )
            })
            .ok(),
        content::TYPING => content::Typing::from_payload(payload)
            .map(|typing| format!("typing: {}", typing.typing))
            .ok(),
        content::TIMER => content::Timer::from_payload(payload)
            .map(|timer| format!("disappearing timer: {} s", timer.seconds))
            .ok(),
        _ => Some(format!("{} bytes", payload.len())),
    };
    match said {
        Some(said) => format!("[{name}] {said}"),
        None => format!("[{name}] a payload that breaks the type's rules"),
    }
}

#[cfg(test)]
mod tests {
    use fuin_wire::content::{Edit, MessageRef, Reaction};
    use fuin_wire::{ClientMessageId, SecretBytes, UserId};

    use super::*;

    #[test]
    fn built_in_and_app_types_are_described() {
        let edit = Edit {
            target: ClientMessageId([1; 16]),
            text: "new words".into(),
        }
        .to_typed_bytes()
        .unwrap();
        assert_eq!(
            describe_typed(&edit),
            format!(
                "[fuin.edit] edit of message {}: \"new words\"",
                "01".repeat(16)
            )
        );
        let reaction = Reaction {
            target: MessageRef {
                author: UserId::new("bob").unwrap(),
                id: ClientMessageId([2; 16]),
            },
            reaction: "👍".into(),
        }
        .to_typed_bytes()
        .unwrap();
        assert!(describe_typed(&reaction).starts_with("[fuin.reaction] reaction \"👍\" to bob's"));
        let app = TypedContent {
            type_name: content::TypeName::new("com.example.poll").unwrap(),
            payload: SecretBytes::borrowed(b"abc"),
        }
        .to_bytes()
        .unwrap();
        assert_eq!(describe_typed(&app), "[com.example.poll] 3 bytes");
        assert_eq!(
            describe_typed(b"\x02"),
            "[typed content that does not decode]"
        );
    }
}
