//! Byte-string field types: fixed-size values (keys, hashes, ids) and the
//! borrowed opaque payloads that the relay routes without reading.
//!
//! In postcard a fixed-size value is its raw bytes with no length prefix and an
//! opaque payload is a varint length followed by its bytes. In human-readable
//! formats (the JSON test vectors) both are lowercase hex strings.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

/// Defines a newtype over `[u8; N]` with the wire encoding described above.
macro_rules! fixed_bytes {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length of the value in bytes.
            pub const LEN: usize = $len;

            /// The value's bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({})", stringify!($name), ::hex::encode(self.0))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $crate::bytes::serialize_fixed(&self.0, serializer)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::bytes::deserialize_fixed(deserializer).map(Self)
            }
        }
    };
}
pub(crate) use fixed_bytes;

/// Defines a 32-byte secret carried in a frame: `Debug` shows no bytes, the
/// bytes are wiped on drop, and equality is decided without an early exit.
macro_rules! secret_field {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, ::zeroize::Zeroize, ::zeroize::ZeroizeOnDrop)]
        pub struct $name(pub [u8; 32]);

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                let difference = self
                    .0
                    .iter()
                    .zip(other.0.iter())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b));
                std::hint::black_box(difference) == 0
            }
        }

        impl Eq for $name {}

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $crate::bytes::serialize_fixed(&self.0, serializer)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::bytes::deserialize_fixed(deserializer).map(Self)
            }
        }
    };
}
pub(crate) use secret_field;

pub(crate) fn serialize_fixed<S: Serializer, const N: usize>(
    bytes: &[u8; N],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        return serializer.serialize_str(&hex::encode(bytes));
    }
    let mut tuple = serializer.serialize_tuple(N)?;
    for byte in bytes {
        tuple.serialize_element(byte)?;
    }
    tuple.end()
}

pub(crate) fn deserialize_fixed<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
) -> Result<[u8; N], D::Error> {
    struct FixedVisitor<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for FixedVisitor<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{N} bytes")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            Ok(out)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<[u8; N], E> {
            let mut out = [0u8; N];
            hex::decode_to_slice(text, &mut out).map_err(E::custom)?;
            Ok(out)
        }
    }

    if deserializer.is_human_readable() {
        deserializer.deserialize_str(FixedVisitor::<N>)
    } else {
        deserializer.deserialize_tuple(N, FixedVisitor::<N>)
    }
}

/// An opaque byte string that the relay carries but never interprets, such as
/// a sealed message body.
///
/// Decoding borrows it from the input; [`Opaque::into_owned`] detaches it.
/// `Debug` shows only the length: payloads never reach a log.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Opaque<'a>(Cow<'a, [u8]>);

impl<'a> Opaque<'a> {
    /// Wraps borrowed bytes.
    pub fn borrowed(bytes: &'a [u8]) -> Self {
        Self(Cow::Borrowed(bytes))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the bytes are borrowed from a decoded input (no copy was made).
    pub fn is_borrowed(&self) -> bool {
        matches!(self.0, Cow::Borrowed(_))
    }

    /// Copies the bytes if they are borrowed, detaching the value from the input.
    pub fn into_owned(self) -> Opaque<'static> {
        Opaque(Cow::Owned(self.0.into_owned()))
    }
}

impl From<Vec<u8>> for Opaque<'static> {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Cow::Owned(bytes))
    }
}

impl<'a> From<&'a [u8]> for Opaque<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Self::borrowed(bytes)
    }
}

impl AsRef<[u8]> for Opaque<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Opaque<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Opaque({} bytes)", self.0.len())
    }
}

impl Serialize for Opaque<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(&self.0))
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Opaque<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OpaqueVisitor;

        impl<'de> Visitor<'de> for OpaqueVisitor {
            type Value = Opaque<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }

            fn visit_borrowed_bytes<E: de::Error>(
                self,
                bytes: &'de [u8],
            ) -> Result<Self::Value, E> {
                Ok(Opaque(Cow::Borrowed(bytes)))
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
                Ok(Opaque(Cow::Owned(bytes.to_vec())))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                hex::decode(text)
                    .map(|bytes| Opaque(Cow::Owned(bytes)))
                    .map_err(E::custom)
            }
        }

        if deserializer.is_human_readable() {
            deserializer.deserialize_str(OpaqueVisitor)
        } else {
            deserializer.deserialize_bytes(OpaqueVisitor)
        }
    }
}

/// The opened plaintext of a message body: bytes that only the two ends of a
/// conversation may read.
///
/// Unlike [`Opaque`], which carries ciphertext the relay may see, these bytes
/// are wiped when the last owned copy is dropped, and `Debug` shows only the
/// length. Decoding borrows them from the input (the opener wipes its
/// plaintext buffer); [`SecretBytes::into_owned`] copies them into a buffer
/// of exactly their size that is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes<'a>(SecretRepr<'a>);

#[derive(Clone)]
enum SecretRepr<'a> {
    Borrowed(&'a [u8]),
    Owned(zeroize::Zeroizing<Vec<u8>>),
}

impl PartialEq for SecretRepr<'_> {
    fn eq(&self, other: &Self) -> bool {
        // No early exit on the first differing byte: these are plaintexts.
        let (a, b) = (self.as_slice(), other.as_slice());
        let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
        a.len() == b.len() && std::hint::black_box(difference) == 0
    }
}

impl Eq for SecretRepr<'_> {}

impl SecretRepr<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Borrowed(bytes) => bytes,
            Self::Owned(bytes) => bytes.as_slice(),
        }
    }
}

impl<'a> SecretBytes<'a> {
    /// Wraps borrowed bytes; whoever owns them is responsible for wiping them.
    pub fn borrowed(bytes: &'a [u8]) -> Self {
        Self(SecretRepr::Borrowed(bytes))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// Whether the bytes are borrowed from a decoded input (no copy was made).
    pub fn is_borrowed(&self) -> bool {
        matches!(self.0, SecretRepr::Borrowed(_))
    }

    /// Detaches the value from its input: borrowed bytes are copied into a
    /// buffer allocated once at their exact size and wiped on drop.
    pub fn into_owned(self) -> SecretBytes<'static> {
        match self.0 {
            SecretRepr::Owned(bytes) => SecretBytes(SecretRepr::Owned(bytes)),
            SecretRepr::Borrowed(bytes) => SecretBytes::from(bytes.to_vec()),
        }
    }
}

impl From<Vec<u8>> for SecretBytes<'static> {
    fn from(bytes: Vec<u8>) -> Self {
        Self(SecretRepr::Owned(zeroize::Zeroizing::new(bytes)))
    }
}

impl<'a> From<&'a [u8]> for SecretBytes<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Self::borrowed(bytes)
    }
}

impl AsRef<[u8]> for SecretBytes<'_> {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for SecretBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes, <redacted>)", self.len())
    }
}

impl Serialize for SecretBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(self.as_bytes()))
        } else {
            serializer.serialize_bytes(self.as_bytes())
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for SecretBytes<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;

        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = SecretBytes<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }

            fn visit_borrowed_bytes<E: de::Error>(
                self,
                bytes: &'de [u8],
            ) -> Result<Self::Value, E> {
                Ok(SecretBytes::borrowed(bytes))
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
                Ok(SecretBytes::from(bytes.to_vec()))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                hex::decode(text).map(SecretBytes::from).map_err(E::custom)
            }
        }

        if deserializer.is_human_readable() {
            deserializer.deserialize_str(SecretVisitor)
        } else {
            deserializer.deserialize_bytes(SecretVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_only_the_length_of_an_opaque_payload() {
        let payload = Opaque::borrowed(b"attack at dawn");
        assert_eq!(format!("{payload:?}"), "Opaque(14 bytes)");
    }

    #[test]
    fn debug_of_a_plaintext_body_shows_no_byte_of_it() {
        let owned = SecretBytes::from(b"attack at dawn".to_vec());
        let borrowed = SecretBytes::borrowed(b"attack at dawn");
        for body in [&owned, &borrowed] {
            let shown = format!("{body:?}");
            assert_eq!(shown, "SecretBytes(14 bytes, <redacted>)");
            assert!(!shown.contains("attack"));
        }
        assert_eq!(owned, borrowed);
        assert_ne!(owned, SecretBytes::borrowed(b"attack at dusk"));
    }

    #[test]
    fn an_owned_plaintext_body_lives_in_a_buffer_wiped_on_drop() {
        // The owned form must be a `Zeroizing` buffer: this only compiles,
        // and only matches, if it is.
        let body = SecretBytes::borrowed(b"secret words").into_owned();
        match &body.0 {
            SecretRepr::Owned(buffer) => {
                let wiped: &zeroize::Zeroizing<Vec<u8>> = buffer;
                assert_eq!(wiped.as_slice(), b"secret words");
                assert_eq!(wiped.capacity(), wiped.len());
            }
            SecretRepr::Borrowed(_) => panic!("into_owned kept a borrow"),
        }
        let decoded: SecretBytes<'static> = SecretBytes::from(b"x".to_vec());
        assert!(!decoded.is_borrowed());
    }
}
