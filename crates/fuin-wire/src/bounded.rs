//! Lists with a documented maximum length.
//!
//! Decoding stores at most `MAX` elements, whatever length the input claims:
//! further elements are decoded (they must be well formed, or the frame is
//! malformed) and dropped, and their count is kept so that validation can
//! report [`WireError::LimitExceeded`](crate::WireError::LimitExceeded) with
//! the real length. Memory is therefore bounded by `MAX` elements (the
//! vector's capacity, grown by doubling, can reach just under twice that),
//! never by the claimed count.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::WireError;

/// A list of at most `MAX` elements on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct BoundedVec<T, const MAX: usize> {
    items: Vec<T>,
    /// How many elements the input had (more than `items.len()` only when
    /// it exceeded `MAX`).
    claimed: usize,
}

impl<T, const MAX: usize> BoundedVec<T, MAX> {
    /// The most elements the list may hold.
    pub const MAX: usize = MAX;

    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }

    /// Takes the elements out.
    pub fn into_vec(self) -> Vec<T> {
        self.items
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Fails with [`WireError::LimitExceeded`] naming `field` if the list
    /// is longer than `MAX`.
    pub(crate) fn check_len(&self, field: &'static str) -> Result<(), WireError> {
        if self.claimed > MAX {
            return Err(WireError::LimitExceeded {
                field,
                len: self.claimed,
                max: MAX,
            });
        }
        Ok(())
    }

    /// Applies `f` to every element, keeping the bound.
    pub(crate) fn map<U>(self, f: impl FnMut(T) -> U) -> BoundedVec<U, MAX> {
        BoundedVec {
            items: self.items.into_iter().map(f).collect(),
            claimed: self.claimed,
        }
    }
}

impl<T, const MAX: usize> Default for BoundedVec<T, MAX> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            claimed: 0,
        }
    }
}

impl<T, const MAX: usize> From<Vec<T>> for BoundedVec<T, MAX> {
    /// Wraps `items`; a list longer than `MAX` is refused when encoded.
    fn from(items: Vec<T>) -> Self {
        let claimed = items.len();
        Self { items, claimed }
    }
}

impl<T: fmt::Debug, const MAX: usize> fmt::Debug for BoundedVec<T, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.items).finish()
    }
}

impl<T: Serialize, const MAX: usize> Serialize for BoundedVec<T, MAX> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.items.len()))?;
        for item in &self.items {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for BoundedVec<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BoundedVisitor<T, const MAX: usize>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for BoundedVisitor<T, MAX> {
            type Value = BoundedVec<T, MAX>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a list of at most {MAX} elements")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // Never trust the claimed length for an allocation.
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX).min(16));
                let mut claimed = 0usize;
                while let Some(item) = seq.next_element::<T>()? {
                    claimed += 1;
                    if items.len() < MAX {
                        items.push(item);
                    }
                }
                Ok(BoundedVec { items, claimed })
            }
        }

        deserializer.deserialize_seq(BoundedVisitor::<T, MAX>(PhantomData))
    }
}
