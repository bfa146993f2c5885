//! A second implementation of typed content (`spec/wire.md` §8.5), written from the spec
//! text alone: an encoder and a decoder of typed bodies and of every built-in payload,
//! checked against `test-vectors/wire/typed_content.json` and against cases of its own.
//!
//! Nothing here comes from `fuin_wire`: varints, strings, the name rule and the payload
//! rules are written by hand from §2, §3, §3.1, §7 and §8.5, so that a vector the crate
//! and this file both accept is evidence that the spec says what the crate does. Unicode's
//! General_Category and Default_Ignorable_Code_Point (needed by the `UserId` rule of a
//! `MessageRef`) come from ICU4X's data, not from `fuin-wire`'s own table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
use icu_properties::{CodePointMapData, CodePointSetData};
use serde_json::{Map, Value, json};

/// "The whole body is at most 63,488 bytes, the limit of any message body."
const BODY_LIMIT: usize = 63_488;
/// `fuin.timer`: "at most 31,536,000 (a year)".
const TIMER_MAX_SECONDS: u32 = 31_536_000;
/// `fuin.reaction`: "`reaction` at most 32 bytes".
const REACTION_MAX_BYTES: usize = 32;
/// `UserId`: "1 to 64 bytes".
const USER_ID_MAX_BYTES: usize = 64;

/// Why a body or payload is refused, named as `spec/wire.md` §7 names its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    UnknownVersion(u8),
    Truncated,
    InvalidField(&'static str),
    LimitExceeded(&'static str),
    TrailingBytes,
    NonCanonical,
    HiddenCharacter {
        field: &'static str,
        code_point: u32,
    },
    Malformed(&'static str),
}

impl Refusal {
    /// The error's name as the vectors write it.
    fn name(self) -> &'static str {
        match self {
            Refusal::UnknownVersion(_) => "UnknownVersion",
            Refusal::Truncated => "Truncated",
            Refusal::InvalidField(_) => "InvalidField",
            Refusal::LimitExceeded(_) => "LimitExceeded",
            Refusal::TrailingBytes => "TrailingBytes",
            Refusal::NonCanonical => "NonCanonical",
            Refusal::HiddenCharacter { .. } => "HiddenCharacter",
            Refusal::Malformed(_) => "Malformed",
        }
    }
}

// ---------------------------------------------------------------------------------------
// §2 field encodings, by hand.

/// Reads §2 fields from one buffer; running out is `Truncated`.
struct Reader<'a> {
    input: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8]) -> Self {
        Reader { input, at: 0 }
    }

    fn byte(&mut self) -> Result<u8, Refusal> {
        let b = *self.input.get(self.at).ok_or(Refusal::Truncated)?;
        self.at += 1;
        Ok(b)
    }

    /// An unsigned LEB128 varint of `max_bytes` bytes at most, whose last allowed byte
    /// holds at most `last_byte_max` (§2 "Varint width": a 6th byte of a `u32` or a 5th
    /// above `0x0f` is bad; an 11th of a `u64` or a 10th above `0x01`). Over-long forms
    /// within the width decode; canonical form is checked at the end (§7 step 8).
    fn varint(&mut self, max_bytes: usize, last_byte_max: u8) -> Result<u64, Refusal> {
        let mut value = 0u64;
        for i in 0..max_bytes {
            let b = self.byte()?;
            if i + 1 == max_bytes && b > last_byte_max {
                return Err(Refusal::Malformed("bad varint"));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        // Unreachable: the last allowed byte either ends the varint or is refused above.
        Err(Refusal::Malformed("bad varint"))
    }

    fn u32_varint(&mut self) -> Result<u32, Refusal> {
        let v = self.varint(5, 0x0f)?;
        u32::try_from(v).map_err(|_| Refusal::Malformed("bad varint"))
    }

    fn u64_varint(&mut self) -> Result<u64, Refusal> {
        self.varint(10, 0x01)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Refusal> {
        let end = self.at.checked_add(N).ok_or(Refusal::Truncated)?;
        let slice = self.input.get(self.at..end).ok_or(Refusal::Truncated)?;
        self.at = end;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    /// `bytes`: a `u64`-wide length, then that many bytes. A length past the input's end
    /// (2^32 and more included) is `Truncated`: the input runs out first.
    fn bytes(&mut self) -> Result<&'a [u8], Refusal> {
        let len = self.u64_varint()?;
        let len = usize::try_from(len).map_err(|_| Refusal::Truncated)?;
        let end = self.at.checked_add(len).ok_or(Refusal::Truncated)?;
        let slice = self.input.get(self.at..end).ok_or(Refusal::Truncated)?;
        self.at = end;
        Ok(slice)
    }

    /// `text` (the §8.5 tables say `string`): `bytes` that must be UTF-8.
    fn text(&mut self) -> Result<&'a str, Refusal> {
        let raw = self.bytes()?;
        std::str::from_utf8(raw).map_err(|_| Refusal::Malformed("invalid utf-8"))
    }

    fn bool(&mut self) -> Result<bool, Refusal> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Refusal::Malformed("bad bool")),
        }
    }

    /// §7 step 6: nothing may follow the last field.
    fn finish(&self) -> Result<(), Refusal> {
        if self.at == self.input.len() {
            Ok(())
        } else {
            Err(Refusal::TrailingBytes)
        }
    }
}

/// Canonical LEB128: the fewest bytes.
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

// ---------------------------------------------------------------------------------------
// §3 `UserId` and §3.1 hidden characters.

/// §3.1: General_Category Cc, Cf, Zl or Zp, or Default_Ignorable_Code_Point.
fn is_hidden(c: char) -> bool {
    let category = CodePointMapData::<GeneralCategory>::new().get(c);
    matches!(
        category,
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// §3 `UserId`, "checked in this order: empty; longer than 64 bytes; a control character;
/// a hidden character". Read as: any control character anywhere wins over a hidden one.
fn check_user_id(user_id: &str) -> Result<(), Refusal> {
    if user_id.is_empty() {
        return Err(Refusal::InvalidField("user_id"));
    }
    if user_id.len() > USER_ID_MAX_BYTES {
        return Err(Refusal::LimitExceeded("user_id"));
    }
    if user_id.chars().any(char::is_control) {
        return Err(Refusal::InvalidField("user_id"));
    }
    if let Some(c) = user_id.chars().find(|&c| is_hidden(c)) {
        return Err(Refusal::HiddenCharacter {
            field: "user_id",
            code_point: u32::from(c),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// §8.5 the typed body.

/// A decoded typed body: the type name and the payload, both borrowed from the input.
#[derive(Debug, PartialEq, Eq)]
struct TypedBody<'a> {
    type_name: &'a str,
    payload: &'a [u8],
}

/// The name's rule: "3 to 128 bytes: labels separated by `.`, at least two; each label 1
/// to 63 bytes of `a`-`z`, `0`-`9` and `-`, starting with a letter and not ending with
/// `-`". The length is checked first (as `MediaType` says of its own length, §8.1).
fn check_type_name(name: &str) -> Result<(), Refusal> {
    if !(3..=128).contains(&name.len()) {
        return Err(Refusal::LimitExceeded("type_name"));
    }
    let invalid = Refusal::InvalidField("type_name");
    let mut labels = 0usize;
    for label in name.split('.') {
        labels += 1;
        let bytes = label.as_bytes();
        let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
            return Err(invalid);
        };
        if bytes.len() > 63
            || !first.is_ascii_lowercase()
            || *last == b'-'
            || !bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        {
            return Err(invalid);
        }
    }
    if labels < 2 {
        return Err(invalid);
    }
    Ok(())
}

/// The body's bytes, without any check: also what the canonical-form check compares with.
fn write_body(type_name: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![1u8];
    put_bytes(&mut out, type_name.as_bytes());
    put_bytes(&mut out, payload);
    out
}

/// Encodes a typed body, refusing what a decoder would refuse (§6: "Encoders refuse values
/// over these limits with the same errors").
fn encode_body(type_name: &str, payload: &[u8]) -> Result<Vec<u8>, Refusal> {
    check_type_name(type_name)?;
    let out = write_body(type_name, payload);
    if out.len() > BODY_LIMIT {
        return Err(Refusal::LimitExceeded("typed_content"));
    }
    Ok(out)
}

/// Decodes a typed body in the order §8.5 gives: the length; at least one byte; the
/// version; the fields by §2; no trailing bytes; the name's rule; canonical form.
fn decode_body(input: &[u8]) -> Result<TypedBody<'_>, Refusal> {
    if input.len() > BODY_LIMIT {
        return Err(Refusal::LimitExceeded("typed_content"));
    }
    let mut reader = Reader::new(input);
    let version = reader.byte()?;
    if version != 1 {
        return Err(Refusal::UnknownVersion(version));
    }
    let type_name = reader.text()?;
    let payload = reader.bytes()?;
    reader.finish()?;
    check_type_name(type_name)?;
    if write_body(type_name, payload) != input {
        return Err(Refusal::NonCanonical);
    }
    Ok(TypedBody { type_name, payload })
}

// ---------------------------------------------------------------------------------------
// §8.5 the built-in payloads.

/// "A `MessageRef` is `author: UserId` (§3) then `id: bytes[16]`".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MessageRef<'a> {
    author: &'a str,
    id: [u8; 16],
}

/// The payload of one built-in type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin<'a> {
    Edit {
        target: [u8; 16],
        text: &'a str,
    },
    Delete {
        target: [u8; 16],
    },
    Reaction {
        target: MessageRef<'a>,
        reaction: &'a str,
    },
    Reply {
        quote: MessageRef<'a>,
        text: &'a str,
    },
    Typing {
        typing: bool,
    },
    Timer {
        seconds: u32,
    },
}

/// `fuin.reaction`: "no control character (`char::is_control`, which includes line
/// breaks), U+2028, U+2029, U+061C, U+200E, U+200F, U+202A-U+202E or U+2066-U+2069".
fn is_refused_in_reaction(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

fn check_reaction(reaction: &str) -> Result<(), Refusal> {
    if reaction.len() > REACTION_MAX_BYTES {
        return Err(Refusal::LimitExceeded("reaction"));
    }
    if let Some(c) = reaction.chars().find(|&c| is_refused_in_reaction(c)) {
        return Err(Refusal::HiddenCharacter {
            field: "reaction",
            code_point: u32::from(c),
        });
    }
    Ok(())
}

fn check_text_not_empty(text: &str) -> Result<(), Refusal> {
    if text.is_empty() {
        Err(Refusal::InvalidField("text"))
    } else {
        Ok(())
    }
}

/// The field rules, in the order the fields appear (§7 step 7).
fn check_builtin(value: &Builtin<'_>) -> Result<(), Refusal> {
    match *value {
        Builtin::Edit { text, .. } => check_text_not_empty(text),
        Builtin::Delete { .. } | Builtin::Typing { .. } => Ok(()),
        Builtin::Reaction { target, reaction } => {
            check_user_id(target.author)?;
            check_reaction(reaction)
        }
        Builtin::Reply { quote, text } => {
            check_user_id(quote.author)?;
            check_text_not_empty(text)
        }
        Builtin::Timer { seconds } => {
            if seconds > TIMER_MAX_SECONDS {
                Err(Refusal::LimitExceeded("seconds"))
            } else {
                Ok(())
            }
        }
    }
}

fn put_message_ref(out: &mut Vec<u8>, reference: &MessageRef<'_>) {
    put_bytes(out, reference.author.as_bytes());
    out.extend_from_slice(&reference.id);
}

/// The payload's bytes, without any check.
fn write_builtin(value: &Builtin<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Builtin::Edit { target, text } => {
            out.extend_from_slice(target);
            put_bytes(&mut out, text.as_bytes());
        }
        Builtin::Delete { target } => out.extend_from_slice(target),
        Builtin::Reaction { target, reaction } => {
            put_message_ref(&mut out, target);
            put_bytes(&mut out, reaction.as_bytes());
        }
        Builtin::Reply { quote, text } => {
            put_message_ref(&mut out, quote);
            put_bytes(&mut out, text.as_bytes());
        }
        Builtin::Typing { typing } => out.push(u8::from(*typing)),
        Builtin::Timer { seconds } => put_varint(&mut out, u64::from(*seconds)),
    }
    out
}

fn encode_builtin(value: &Builtin<'_>) -> Result<Vec<u8>, Refusal> {
    check_builtin(value)?;
    Ok(write_builtin(value))
}

/// The built-in type a name stands for, if it is one.
fn builtin_name(value: &Builtin<'_>) -> &'static str {
    match value {
        Builtin::Edit { .. } => "fuin.edit",
        Builtin::Delete { .. } => "fuin.delete",
        Builtin::Reaction { .. } => "fuin.reaction",
        Builtin::Reply { .. } => "fuin.reply",
        Builtin::Typing { .. } => "fuin.typing",
        Builtin::Timer { .. } => "fuin.timer",
    }
}

fn read_message_ref<'a>(reader: &mut Reader<'a>) -> Result<MessageRef<'a>, Refusal> {
    Ok(MessageRef {
        author: reader.text()?,
        id: reader.fixed()?,
    })
}

/// The fields of a built-in payload by §2, or `None` for a name that is not built in.
fn read_builtin<'a>(
    type_name: &str,
    reader: &mut Reader<'a>,
) -> Option<Result<Builtin<'a>, Refusal>> {
    let fields = match type_name {
        "fuin.edit" => read_edit(reader),
        "fuin.delete" => reader.fixed().map(|target| Builtin::Delete { target }),
        "fuin.reaction" => read_reaction(reader),
        "fuin.reply" => read_reply(reader),
        "fuin.typing" => reader.bool().map(|typing| Builtin::Typing { typing }),
        "fuin.timer" => reader
            .u32_varint()
            .map(|seconds| Builtin::Timer { seconds }),
        _ => return None,
    };
    Some(fields)
}

fn read_edit<'a>(reader: &mut Reader<'a>) -> Result<Builtin<'a>, Refusal> {
    Ok(Builtin::Edit {
        target: reader.fixed()?,
        text: reader.text()?,
    })
}

fn read_reaction<'a>(reader: &mut Reader<'a>) -> Result<Builtin<'a>, Refusal> {
    Ok(Builtin::Reaction {
        target: read_message_ref(reader)?,
        reaction: reader.text()?,
    })
}

fn read_reply<'a>(reader: &mut Reader<'a>) -> Result<Builtin<'a>, Refusal> {
    Ok(Builtin::Reply {
        quote: read_message_ref(reader)?,
        text: reader.text()?,
    })
}

/// Decodes a built-in payload: the fields by §2, no trailing bytes, the field rules, then
/// canonical form. `None` for a name that is not built in (kept as it is, never refused).
fn decode_builtin<'a>(type_name: &str, payload: &'a [u8]) -> Option<Result<Builtin<'a>, Refusal>> {
    let mut reader = Reader::new(payload);
    let fields = read_builtin(type_name, &mut reader)?;
    Some(fields.and_then(|value| {
        reader.finish()?;
        check_builtin(&value)?;
        if write_builtin(&value) != payload {
            return Err(Refusal::NonCanonical);
        }
        Ok(value)
    }))
}

// ---------------------------------------------------------------------------------------
// The vectors' `fields`, to and from the built-in values.

fn hex16(value: &Value) -> [u8; 16] {
    let raw = hex::decode(value.as_str().unwrap()).unwrap();
    raw.try_into().unwrap()
}

fn builtin_from_fields<'a>(type_name: &str, fields: &'a Value) -> Builtin<'a> {
    let text = |key: &str| fields[key].as_str().unwrap();
    let message_ref = || MessageRef {
        author: fields["author"].as_str().unwrap(),
        id: hex16(&fields["id"]),
    };
    match type_name {
        "fuin.edit" => Builtin::Edit {
            target: hex16(&fields["target"]),
            text: text("text"),
        },
        "fuin.delete" => Builtin::Delete {
            target: hex16(&fields["target"]),
        },
        "fuin.reaction" => Builtin::Reaction {
            target: message_ref(),
            reaction: text("reaction"),
        },
        "fuin.reply" => Builtin::Reply {
            quote: message_ref(),
            text: text("text"),
        },
        "fuin.typing" => Builtin::Typing {
            typing: fields["typing"].as_bool().unwrap(),
        },
        "fuin.timer" => Builtin::Timer {
            seconds: u32::try_from(fields["seconds"].as_u64().unwrap()).unwrap(),
        },
        other => panic!("{other} is not a built-in type"),
    }
}

/// The fields of a decoded value, written as the vectors write them.
fn fields_of(value: &Builtin<'_>) -> Value {
    match value {
        Builtin::Edit { target, text } => json!({ "target": hex::encode(target), "text": text }),
        Builtin::Delete { target } => json!({ "target": hex::encode(target) }),
        Builtin::Reaction { target, reaction } => json!({
            "author": target.author, "id": hex::encode(target.id), "reaction": reaction
        }),
        Builtin::Reply { quote, text } => json!({
            "author": quote.author, "id": hex::encode(quote.id), "text": text
        }),
        Builtin::Typing { typing } => json!({ "typing": typing }),
        Builtin::Timer { seconds } => json!({ "seconds": seconds }),
    }
}

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/wire/typed_content.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn entries<'v>(file: &'v Value, key: &str) -> &'v Vec<Value> {
    let list = file[key].as_array().unwrap();
    assert!(!list.is_empty(), "{key} holds no entry");
    list
}

fn hex_field(entry: &Value, key: &str) -> Vec<u8> {
    hex::decode(entry[key].as_str().unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------
// 1. Golden encodings.

#[test]
fn every_vector_encodes_and_decodes_from_the_spec_alone() {
    let file = vectors();
    let mut builtins_seen = 0;
    for entry in entries(&file, "vectors") {
        let name = entry["name"].as_str().unwrap();
        let type_name = entry["type_name"].as_str().unwrap();
        let payload = hex_field(entry, "payload");
        let encoded = hex_field(entry, "encoded");
        let fields = &entry["fields"];

        assert_eq!(
            encode_body(type_name, &payload).unwrap(),
            encoded,
            "{name}: body"
        );
        let body = decode_body(&encoded).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(body.type_name, type_name, "{name}");
        assert_eq!(body.payload, &payload[..], "{name}");

        match decode_builtin(type_name, &payload) {
            Some(decoded) => {
                builtins_seen += 1;
                let built = builtin_from_fields(type_name, fields);
                assert_eq!(builtin_name(&built), type_name, "{name}");
                assert_eq!(encode_builtin(&built).unwrap(), payload, "{name}: payload");
                let decoded = decoded.unwrap_or_else(|e| panic!("{name}: {e:?}"));
                assert_eq!(decoded, built, "{name}");
                assert_eq!(fields_of(&decoded), *fields, "{name}: fields");
            }
            None => {
                // An app type: kept whole, its payload the app's business.
                assert!(!type_name.starts_with("fuin."), "{name}");
                assert_eq!(fields, &Value::Object(Map::new()), "{name}");
            }
        }
    }
    assert!(builtins_seen >= 6, "every built-in type has a vector");
}

// ---------------------------------------------------------------------------------------
// 2. Refusals, each for the reason its entry names.

#[test]
fn every_rejected_body_is_refused_for_the_named_reason() {
    let file = vectors();
    for entry in entries(&file, "rejected_bodies") {
        let name = entry["name"].as_str().unwrap();
        let encoded = hex_field(entry, "encoded");
        let refusal = decode_body(&encoded).expect_err(name);
        assert_eq!(
            refusal.name(),
            entry["error"].as_str().unwrap(),
            "{name}: {refusal:?}"
        );
    }
}

#[test]
fn every_rejected_payload_is_refused_for_the_named_reason() {
    let file = vectors();
    for entry in entries(&file, "rejected_payloads") {
        let name = entry["name"].as_str().unwrap();
        let type_name = entry["type_name"].as_str().unwrap();
        let payload = hex_field(entry, "payload");
        // The body around the payload is well formed: the refusal is the payload's own.
        let body = encode_body(type_name, &payload).unwrap();
        assert_eq!(decode_body(&body).unwrap().payload, &payload[..], "{name}");

        let refusal = decode_builtin(type_name, &payload)
            .unwrap_or_else(|| panic!("{name}: {type_name} is not built in"))
            .expect_err(name);
        assert_eq!(
            refusal.name(),
            entry["error"].as_str().unwrap(),
            "{name}: {refusal:?}"
        );
    }
}

#[test]
fn rejected_payloads_name_the_field_the_spec_names() {
    // The vectors give the error's name only; the spec's rows give the field too.
    let file = vectors();
    let expected = [
        ("edit with empty text", Refusal::InvalidField("text")),
        ("reaction of 33 bytes", Refusal::LimitExceeded("reaction")),
        (
            "reaction with a line break",
            Refusal::HiddenCharacter {
                field: "reaction",
                code_point: 0x0a,
            },
        ),
        (
            "reaction with a bidi override",
            Refusal::HiddenCharacter {
                field: "reaction",
                code_point: 0x202e,
            },
        ),
        ("timer over a year", Refusal::LimitExceeded("seconds")),
        ("reply to an empty author", Refusal::InvalidField("user_id")),
    ];
    for (wanted, refusal) in expected {
        let entry = entries(&file, "rejected_payloads")
            .iter()
            .find(|e| e["name"] == wanted)
            .unwrap_or_else(|| panic!("no vector {wanted}"));
        let payload = hex_field(entry, "payload");
        let got = decode_builtin(entry["type_name"].as_str().unwrap(), &payload)
            .unwrap()
            .unwrap_err();
        assert_eq!(got, refusal, "{wanted}");
    }
}

// ---------------------------------------------------------------------------------------
// 3. Cases the spec decides that the vectors do not cover.

/// A valid name of `len` bytes (64 or more): a label of 63 `a`s, then labels of `b`s,
/// each as long as allowed while leaving room for a last one.
fn name_of_len(len: usize) -> String {
    let mut name = "a".repeat(63);
    while name.len() < len {
        let room = len - name.len() - 1;
        let label = if room > 63 { 63.min(room - 2) } else { room };
        name.push('.');
        name.push_str(&"b".repeat(label));
    }
    assert_eq!(name.len(), len);
    name
}

#[test]
fn type_name_length_bounds() {
    for (len, outcome) in [
        (2, Err(Refusal::LimitExceeded("type_name"))),
        (3, Ok(())),
        (128, Ok(())),
        (129, Err(Refusal::LimitExceeded("type_name"))),
    ] {
        let name = if len <= 3 {
            ["a.", "a.b"][len - 2].to_owned()
        } else {
            name_of_len(len)
        };
        assert_eq!(name.len(), len);
        let body = write_body(&name, b"x");
        assert_eq!(decode_body(&body).map(|_| ()), outcome, "{len} bytes");
        assert_eq!(encode_body(&name, b"x").map(|_| ()), outcome, "{len} bytes");
    }
}

#[test]
fn type_name_label_bounds_and_characters() {
    let label_63 = format!("{}.b", "a".repeat(63));
    let label_64 = format!("{}.b", "a".repeat(64));
    let accepted = [
        label_63.as_str(),
        "a.b",
        "com.example.poll",
        "x-1.y2",
        "a.b.c.d",
    ];
    for name in accepted {
        assert!(decode_body(&write_body(name, b"")).is_ok(), "{name}");
    }
    let refused = [
        label_64.as_str(), // a label over 63 bytes: the name's rule, not its length
        "a..b",
        ".ab",
        "ab.",
        "a.-b",
        "a.b_c",
        "a.b c",
        "a.bé",
        "a.B",
        "com.9x",
        "abc",
    ];
    for name in refused {
        assert_eq!(
            decode_body(&write_body(name, b"")),
            Err(Refusal::InvalidField("type_name")),
            "{name}"
        );
        assert_eq!(
            encode_body(name, b""),
            Err(Refusal::InvalidField("type_name")),
            "{name}"
        );
    }
}

#[test]
fn body_checks_come_in_the_spec_order() {
    // Invalid UTF-8 in the name is a §2 failure: Malformed, before the name's rule.
    assert_eq!(
        decode_body(&[1, 3, b'a', b'.', 0xff, 0]),
        Err(Refusal::Malformed("invalid utf-8"))
    );
    // A bad name followed by a stray byte: trailing bytes come before the name's rule.
    assert_eq!(
        decode_body(&[1, 3, b'A', b'.', b'b', 0, 0]),
        Err(Refusal::TrailingBytes)
    );
    // A bad name with an over-long payload length: the name's rule before canonical form.
    assert_eq!(
        decode_body(&[1, 3, b'A', b'.', b'b', 0x80, 0x00]),
        Err(Refusal::InvalidField("type_name"))
    );
    // A good name with an over-long length of its own.
    assert_eq!(
        decode_body(&[1, 0x83, 0x00, b'a', b'.', b'b', 0]),
        Err(Refusal::NonCanonical)
    );
    // A wrong version is refused whatever follows.
    assert_eq!(decode_body(&[0, 0xff]), Err(Refusal::UnknownVersion(0)));
    // Running out: no name, half a name, no payload, half a payload.
    for body in [
        &[1][..],
        &[1, 3, b'a'],
        &[1, 3, b'a', b'.', b'b'],
        &[1, 3, b'a', b'.', b'b', 2, 0],
    ] {
        assert_eq!(decode_body(body), Err(Refusal::Truncated), "{body:?}");
    }
    // A length of 2^32 is well formed (a u64 is 10 bytes wide): the input runs out first.
    assert_eq!(
        decode_body(&[1, 3, b'a', b'.', b'b', 0x80, 0x80, 0x80, 0x80, 0x10]),
        Err(Refusal::Truncated)
    );
    // An 11th varint byte, or a 10th above 0x01, is a bad varint.
    let mut eleven = vec![1, 3, b'a', b'.', b'b'];
    eleven.extend([0x80; 10]);
    eleven.push(0);
    assert_eq!(decode_body(&eleven), Err(Refusal::Malformed("bad varint")));
    let mut tenth_too_big = vec![1, 3, b'a', b'.', b'b'];
    tenth_too_big.extend([0x80; 9]);
    tenth_too_big.push(0x02);
    assert_eq!(
        decode_body(&tenth_too_big),
        Err(Refusal::Malformed("bad varint"))
    );
}

#[test]
fn body_limit_is_the_message_body_limit_and_is_checked_first() {
    // 1 version + 1 + 3 name + 3-byte length + payload = 63,488.
    let payload = vec![0x5a; BODY_LIMIT - 8];
    let at_limit = encode_body("a.b", &payload).unwrap();
    assert_eq!(at_limit.len(), BODY_LIMIT);
    assert_eq!(decode_body(&at_limit).unwrap().payload, &payload[..]);

    let over = [payload.as_slice(), &[0x5a]].concat();
    assert_eq!(
        encode_body("a.b", &over),
        Err(Refusal::LimitExceeded("typed_content"))
    );
    let mut too_long = write_body("a.b", &over);
    assert_eq!(
        decode_body(&too_long),
        Err(Refusal::LimitExceeded("typed_content"))
    );
    // Checked before the version, which would be refused too.
    too_long[0] = 2;
    assert_eq!(
        decode_body(&too_long),
        Err(Refusal::LimitExceeded("typed_content"))
    );
}

#[test]
fn unknown_names_are_kept_even_under_fuin() {
    // "A receiver keeps content of a name it does not know; it never refuses the frame."
    for name in ["fuin.poll", "fuin.edit2", "com.example.edit"] {
        let body = encode_body(name, b"\xff\x00anything").unwrap();
        let decoded = decode_body(&body).unwrap();
        assert_eq!(decoded.type_name, name);
        assert!(decode_builtin(decoded.type_name, decoded.payload).is_none());
    }
}

fn reaction_payload(author: &str, reaction: &str) -> Vec<u8> {
    write_builtin(&Builtin::Reaction {
        target: MessageRef {
            author,
            id: [7; 16],
        },
        reaction,
    })
}

fn decode_reaction(payload: &[u8]) -> Result<Builtin<'_>, Refusal> {
    decode_builtin("fuin.reaction", payload).unwrap()
}

#[test]
fn reaction_length_and_emoji_sequences() {
    let accepted = [
        "👍👍👍👍👍👍👍👍",                                         // exactly 32 bytes
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",                         // exactly 32 bytes
        "👨\u{200D}👩\u{200D}👧",                                   // joiners (U+200D)
        "❤\u{FE0F}",                                                // a variation selector
        "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}", // tag characters
        "\u{200B}", // zero-width space: not in the reaction's list
        "",
    ];
    for reaction in accepted {
        let payload = reaction_payload("bob", reaction);
        let decoded = decode_reaction(&payload);
        assert!(
            matches!(decoded, Ok(Builtin::Reaction { reaction: r, .. }) if r == reaction),
            "{reaction:?}: {decoded:?}"
        );
    }
    assert_eq!("👍👍👍👍👍👍👍👍".len(), 32);
    for reaction in ["👍👍👍👍👍👍👍👍a", "👨\u{200D}👩\u{200D}👧\u{200D}👦👍👍"]
    {
        assert!(reaction.len() > 32);
        assert_eq!(
            decode_reaction(&reaction_payload("bob", reaction)),
            Err(Refusal::LimitExceeded("reaction")),
            "{reaction:?}"
        );
    }
}

#[test]
fn reaction_refuses_each_listed_character_and_names_the_first() {
    let listed = [
        0x00, 0x0d, 0x1f, 0x7f, 0x85, 0x9f, 0x2028, 0x2029, 0x061c, 0x200e, 0x200f, 0x202a, 0x202e,
        0x2066, 0x2069,
    ];
    for code_point in listed {
        let c = char::from_u32(code_point).unwrap();
        let reaction = format!("👍{c}");
        let payload = reaction_payload("bob", &reaction);
        assert_eq!(
            decode_reaction(&payload),
            Err(Refusal::HiddenCharacter {
                field: "reaction",
                code_point
            }),
            "U+{code_point:04X}"
        );
        let value = Builtin::Reaction {
            target: MessageRef {
                author: "bob",
                id: [7; 16],
            },
            reaction: &reaction,
        };
        assert!(encode_builtin(&value).is_err(), "U+{code_point:04X}");
    }
    assert_eq!(
        decode_reaction(&reaction_payload("bob", "a\u{2067}\u{0a}")),
        Err(Refusal::HiddenCharacter {
            field: "reaction",
            code_point: 0x2067
        })
    );
    // Fields in order: the author's rule before the reaction's.
    assert_eq!(
        decode_reaction(&reaction_payload("", &"a".repeat(40))),
        Err(Refusal::InvalidField("user_id"))
    );
    // Within the reaction, its length before its characters (the order the row lists them).
    assert_eq!(
        decode_reaction(&reaction_payload("bob", &"\n".repeat(33))),
        Err(Refusal::LimitExceeded("reaction"))
    );
}

#[test]
fn message_ref_author_follows_the_user_id_rules() {
    let author_64 = "a".repeat(64);
    let author_65 = "a".repeat(65);
    assert!(decode_reaction(&reaction_payload(&author_64, "👍")).is_ok());
    let cases = [
        (author_65.as_str(), Refusal::LimitExceeded("user_id")),
        ("al\u{0007}ice", Refusal::InvalidField("user_id")),
        (
            "al\u{200B}ice",
            Refusal::HiddenCharacter {
                field: "user_id",
                code_point: 0x200b,
            },
        ),
        (
            "al\u{00AD}ice",
            Refusal::HiddenCharacter {
                field: "user_id",
                code_point: 0xad,
            },
        ),
        // A control character anywhere is refused before a hidden one earlier on.
        ("a\u{200B}b\u{0001}", Refusal::InvalidField("user_id")),
    ];
    for (author, refusal) in cases {
        assert_eq!(
            decode_reaction(&reaction_payload(author, "👍")),
            Err(refusal),
            "{author:?}"
        );
        let reply = write_builtin(&Builtin::Reply {
            quote: MessageRef {
                author,
                id: [1; 16],
            },
            text: "ok",
        });
        assert_eq!(
            decode_builtin("fuin.reply", &reply).unwrap(),
            Err(refusal),
            "{author:?}"
        );
    }
}

#[test]
fn timer_bounds_and_varint_width() {
    let timer = |payload: &[u8]| decode_builtin("fuin.timer", payload).unwrap().map(|_| ());
    assert_eq!(timer(&[]), Err(Refusal::Truncated));
    // u32::MAX is a well-formed u32 over a year.
    assert_eq!(
        timer(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
        Err(Refusal::LimitExceeded("seconds"))
    );
    // A 5th byte above 0x0f, and a 6th byte: bad varints.
    assert_eq!(
        timer(&[0xff, 0xff, 0xff, 0xff, 0x10]),
        Err(Refusal::Malformed("bad varint"))
    );
    assert_eq!(
        timer(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
        Err(Refusal::Malformed("bad varint"))
    );
    // Over a year and over-long: the rule comes before canonical form.
    assert_eq!(
        timer(&[0x81, 0xe7, 0x84, 0x8f, 0x00]),
        Err(Refusal::LimitExceeded("seconds"))
    );
    // A year, over-long but within the width: NonCanonical.
    assert_eq!(
        timer(&[0x80, 0xe7, 0x84, 0x8f, 0x00]),
        Err(Refusal::NonCanonical)
    );
    assert_eq!(timer(&[0x00, 0x00]), Err(Refusal::TrailingBytes));
    assert_eq!(
        encode_builtin(&Builtin::Timer {
            seconds: TIMER_MAX_SECONDS + 1
        }),
        Err(Refusal::LimitExceeded("seconds"))
    );
}

#[test]
fn typing_edit_delete_and_reply_edges() {
    assert_eq!(
        decode_builtin("fuin.typing", &[]).unwrap(),
        Err(Refusal::Truncated)
    );
    assert_eq!(
        decode_builtin("fuin.typing", &[1, 0]).unwrap(),
        Err(Refusal::TrailingBytes)
    );
    // A delete's target is exactly 16 bytes.
    assert_eq!(
        decode_builtin("fuin.delete", &[0; 15]).unwrap(),
        Err(Refusal::Truncated)
    );
    // An edit's text has no rule but "not empty": line breaks are text.
    let edit = write_builtin(&Builtin::Edit {
        target: [3; 16],
        text: "line one\nline two",
    });
    assert!(decode_builtin("fuin.edit", &edit).unwrap().is_ok());
    // Invalid UTF-8 is Malformed, before the text's rule.
    let mut bad_utf8 = vec![3; 16];
    bad_utf8.extend([1, 0xc3]);
    assert_eq!(
        decode_builtin("fuin.edit", &bad_utf8).unwrap(),
        Err(Refusal::Malformed("invalid utf-8"))
    );
    // Empty text with a trailing byte: trailing bytes come before the rule.
    let mut empty_then_stray = vec![3; 16];
    empty_then_stray.extend([0, 0]);
    assert_eq!(
        decode_builtin("fuin.edit", &empty_then_stray).unwrap(),
        Err(Refusal::TrailingBytes)
    );
    // A reply's text must not be empty; the encoder refuses it too.
    let quote = MessageRef {
        author: "bob",
        id: [9; 16],
    };
    let empty_reply = Builtin::Reply { quote, text: "" };
    assert_eq!(
        decode_builtin("fuin.reply", &write_builtin(&empty_reply)).unwrap(),
        Err(Refusal::InvalidField("text"))
    );
    assert_eq!(
        encode_builtin(&empty_reply),
        Err(Refusal::InvalidField("text"))
    );
    // An over-long author length inside a reply: NonCanonical, after every rule passed.
    let mut over_long = vec![0x83, 0x00];
    over_long.extend(b"bob");
    over_long.extend([9; 16]);
    over_long.extend([2, b'o', b'k']);
    assert_eq!(
        decode_builtin("fuin.reply", &over_long).unwrap(),
        Err(Refusal::NonCanonical)
    );
}
