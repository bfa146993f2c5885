//! The properties the fuzz targets check, shared with the unit test that
//! replays the checked-in fuzz corpora. Not part of the public API.

use crate::Frame;

/// Decoding arbitrary bytes must return, never panic. Returns whether the
/// bytes decoded.
pub fn decode_any(data: &[u8]) -> bool {
    Frame::decode(data).is_ok()
}

/// For bytes that decode: encoding the frame gives the same bytes back (the
/// encoding is canonical), and those bytes decode to the same frame. Returns a
/// description of the first violation.
pub fn round_trip_violation(data: &[u8]) -> Option<String> {
    let Ok(frame) = Frame::decode(data) else {
        return None;
    };
    let encoded = match frame.encode() {
        Ok(encoded) => encoded,
        Err(err) => return Some(format!("decoded frame does not encode: {err}")),
    };
    if encoded != data {
        return Some("re-encoding gives different bytes".to_owned());
    }
    match Frame::decode(&encoded) {
        Ok(again) if again == frame => None,
        Ok(_) => Some("re-decoding gives a different frame".to_owned()),
        Err(err) => Some(format!("re-encoded frame does not decode: {err}")),
    }
}

/// For bytes that decode as a receipt body: the body encodes to the same
/// bytes (the encoding is canonical) and decodes back to itself. Returns a
/// description of the first violation; bytes that do not decode are fine.
pub fn receipt_violation(data: &[u8]) -> Option<String> {
    use crate::receipt::ReceiptBody;
    let Ok(body) = ReceiptBody::from_bytes(data) else {
        return None;
    };
    match body.to_bytes() {
        Ok(encoded) if encoded == data => None,
        Ok(_) => Some("re-encoding a receipt gives different bytes".to_owned()),
        Err(err) => Some(format!("a decoded receipt does not encode: {err}")),
    }
}

/// For bytes that decode as an attachment reference body: the body encodes
/// to the same bytes (the encoding is canonical) and decodes back to itself.
/// Returns a description of the first violation; bytes that do not decode
/// are fine.
pub fn attachment_reference_violation(data: &[u8]) -> Option<String> {
    use crate::attachment::AttachmentReference;
    let Ok(reference) = AttachmentReference::from_bytes(data) else {
        return None;
    };
    let encoded = match reference.to_bytes() {
        Ok(encoded) => encoded,
        Err(err) => return Some(format!("a decoded reference does not encode: {err}")),
    };
    if encoded.as_slice() != data {
        return Some("re-encoding a reference gives different bytes".to_owned());
    }
    match AttachmentReference::from_bytes(&encoded) {
        Ok(again) if again == reference => None,
        Ok(_) => Some("re-decoding a reference gives a different value".to_owned()),
        Err(err) => Some(format!("a re-encoded reference does not decode: {err}")),
    }
}

/// For bytes that decode as an attachment share body: the body encodes to
/// the same bytes and decodes back to itself. Returns a description of the
/// first violation; bytes that do not decode are fine.
pub fn attachment_share_violation(data: &[u8]) -> Option<String> {
    use crate::attachment::AttachmentShare;
    let Ok(share) = AttachmentShare::from_bytes(data) else {
        return None;
    };
    let encoded = match share.to_bytes() {
        Ok(encoded) => encoded,
        Err(err) => return Some(format!("a decoded share does not encode: {err}")),
    };
    if encoded.as_slice() != data {
        return Some("re-encoding a share gives different bytes".to_owned());
    }
    match AttachmentShare::from_bytes(&encoded) {
        Ok(again) if again == share => None,
        Ok(_) => Some("re-decoding a share gives a different value".to_owned()),
        Err(err) => Some(format!("a re-encoded share does not decode: {err}")),
    }
}

/// For bytes that decode as an identifier secret share: the share encodes
/// to the same bytes (the encoding is canonical) and decodes back to itself.
/// Returns a description of the first violation; bytes that do not decode
/// are fine.
pub fn identifier_share_violation(data: &[u8]) -> Option<String> {
    use crate::identifier::IdentifierSecretShare;
    let Ok(share) = IdentifierSecretShare::from_bytes(data) else {
        return None;
    };
    let encoded = match share.to_bytes() {
        Ok(encoded) => encoded,
        Err(err) => return Some(format!("a decoded share does not encode: {err}")),
    };
    if encoded.as_slice() != data {
        return Some("re-encoding an identifier share gives different bytes".to_owned());
    }
    match IdentifierSecretShare::from_bytes(&encoded) {
        Ok(again) if again == share => None,
        Ok(_) => Some("re-decoding an identifier share gives a different value".to_owned()),
        Err(err) => Some(format!(
            "a re-encoded identifier share does not decode: {err}"
        )),
    }
}

/// For bytes that decode as a sender key request: the request encodes to
/// the same bytes (the encoding is canonical) and decodes back to itself.
/// Returns a description of the first violation; bytes that do not decode
/// are fine.
pub fn sender_key_request_violation(data: &[u8]) -> Option<String> {
    use crate::key_request::SenderKeyRequest;
    let Ok(request) = SenderKeyRequest::from_bytes(data) else {
        return None;
    };
    let encoded = match request.to_bytes() {
        Ok(encoded) => encoded,
        Err(err) => return Some(format!("a decoded request does not encode: {err}")),
    };
    if encoded.as_slice() != data {
        return Some("re-encoding a sender key request gives different bytes".to_owned());
    }
    match SenderKeyRequest::from_bytes(&encoded) {
        Ok(again) if again == request => None,
        Ok(_) => Some("re-decoding a sender key request gives a different value".to_owned()),
        Err(err) => Some(format!(
            "a re-encoded sender key request does not decode: {err}"
        )),
    }
}

/// Decodes `data` as a typed body (content type `Typed`) and, when it
/// decodes, its payload as every built-in type: whatever decodes must
/// re-encode to the same bytes (the encodings are canonical). Returns a
/// description of the first violation; bytes that do not decode are fine.
pub fn typed_content_violation(data: &[u8]) -> Option<String> {
    use crate::content::{self, BuiltIn, TypedContent};
    let Ok(typed) = TypedContent::from_bytes(data) else {
        return None;
    };
    match typed.to_bytes() {
        Ok(encoded) if encoded.as_slice() == data => {}
        Ok(_) => return Some("re-encoding a typed body gives different bytes".to_owned()),
        Err(err) => return Some(format!("a decoded typed body does not encode: {err}")),
    }
    fn check<'a, T: BuiltIn<'a> + PartialEq>(payload: &'a [u8]) -> Option<String> {
        let Ok(value) = T::from_payload(payload) else {
            return None;
        };
        match value.to_payload() {
            Ok(encoded) if encoded.as_slice() == payload => None,
            Ok(_) => Some(format!("re-encoding a {} gives different bytes", T::NAME)),
            Err(err) => Some(format!("a decoded {} does not encode: {err}", T::NAME)),
        }
    }
    let payload = typed.payload.as_bytes();
    check::<content::Edit<'_>>(payload)
        .or_else(|| check::<content::Delete>(payload))
        .or_else(|| check::<content::Reaction<'_>>(payload))
        .or_else(|| check::<content::Reply<'_>>(payload))
        .or_else(|| check::<content::Typing>(payload))
        .or_else(|| check::<content::Timer>(payload))
}
