//! Fixed-size secret values: wiped on drop, never shown by `Debug`.

/// Defines a 32-byte secret newtype that zeroizes on drop and whose `Debug`
/// shows only its name.
macro_rules! secret_bytes {
    ($(#[$meta:meta])* $vis:vis $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        $vis struct $name([u8; 32]);

        // Wiped as a slice: one fill behind a barrier the compiler keeps,
        // rather than 32 separate volatile writes.
        impl ::zeroize::Zeroize for $name {
            fn zeroize(&mut self) {
                ::zeroize::Zeroize::zeroize(self.0.as_mut_slice());
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                ::zeroize::Zeroize::zeroize(self);
            }
        }

        impl ::zeroize::ZeroizeOnDrop for $name {}

        impl $name {
            /// Wraps secret bytes.
            #[allow(dead_code)]
            pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The secret bytes, for the primitive that consumes them.
            #[allow(dead_code)]
            pub(crate) fn expose(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}
pub(crate) use secret_bytes;

secret_bytes!(
    /// The output of one X25519 agreement, checked to be contributory.
    pub DhOutput
);

impl DhOutput {
    /// The agreed bytes, as key material for a derivation made outside this
    /// crate (a sealed report's HKDF, `spec/report.md`). They are secret:
    /// pass them to a KDF, never store or show them.
    pub fn key_material(&self) -> &[u8; 32] {
        &self.0
    }
}
