//! HMAC-SHA256 (RFC 2104) over SHA-256's compression function, with a key's
//! two padded blocks compressed once.
//!
//! Every message steps a chain key into two MACs (the message key and the
//! next chain key), and every HKDF output block is a MAC under the same
//! pseudorandom key. An [`HmacKey`] holds the SHA-256 states after the key's
//! inner and outer blocks, so each further MAC under it costs only the
//! compressions of its own input. Both states are as secret as the key:
//! they are wiped on drop, as is every buffer that held key or message
//! bytes.

use sha2::block_api::compress256;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// SHA-256's initial state (FIPS 180-4, §5.3.3).
const INITIAL_STATE: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

const BLOCK_LEN: usize = 64;

/// Bytes of an HMAC-SHA256 tag.
pub const TAG_LEN: usize = 32;

/// An HMAC-SHA256 key, prepared: the SHA-256 states after the key's inner
/// (`key ⊕ 0x36…`) and outer (`key ⊕ 0x5c…`) blocks. Cloning it is cheaper
/// than preparing the key again. Wiped on drop; `Debug` shows nothing.
#[derive(Clone)]
pub struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

// Wiped as slices: `zeroize` clears a slice with one fill and a barrier the
// compiler cannot remove, an array element by element.
impl Zeroize for HmacKey {
    fn zeroize(&mut self) {
        self.inner.as_mut_slice().zeroize();
        self.outer.as_mut_slice().zeroize();
    }
}

impl Drop for HmacKey {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for HmacKey {}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(<redacted>)")
    }
}

impl HmacKey {
    /// Prepares `key`, of any length: a key longer than a block is hashed
    /// first and a shorter one padded with zeros, as RFC 2104 says.
    pub fn new(key: &[u8]) -> Self {
        let mut block = [0u8; BLOCK_LEN];
        if key.len() > BLOCK_LEN {
            let mut hashed = super::sha256(&[key]);
            block[..TAG_LEN].copy_from_slice(&hashed);
            hashed.as_mut_slice().zeroize();
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        for byte in &mut block {
            *byte ^= 0x36;
        }
        let mut inner = INITIAL_STATE;
        compress256(&mut inner, std::slice::from_ref(&block));
        for byte in &mut block {
            *byte ^= 0x36 ^ 0x5c;
        }
        let mut outer = INITIAL_STATE;
        compress256(&mut outer, std::slice::from_ref(&block));
        block.as_mut_slice().zeroize();
        Self { inner, outer }
    }

    /// The tag of the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        let mut run = self.start();
        for part in parts {
            run.update(part);
        }
        run.finish()
    }

    /// Starts a MAC whose input is given piece by piece.
    pub fn start(&self) -> HmacRun<'_> {
        HmacRun {
            key: self,
            state: self.inner,
            buffer: [0; BLOCK_LEN],
            buffered: 0,
            // The key's inner block is already in the state.
            length: BLOCK_LEN as u64,
        }
    }
}

/// One MAC being computed under an [`HmacKey`]. Its state and buffer are
/// wiped on drop, whether or not it was finished.
pub struct HmacRun<'k> {
    key: &'k HmacKey,
    state: [u32; 8],
    buffer: [u8; BLOCK_LEN],
    buffered: usize,
    /// Bytes hashed by the inner hash so far, its key block included.
    length: u64,
}

impl Drop for HmacRun<'_> {
    fn drop(&mut self) {
        self.state.as_mut_slice().zeroize();
        self.buffer.as_mut_slice().zeroize();
    }
}

impl HmacRun<'_> {
    /// Appends `data` to the MAC's input.
    pub fn update(&mut self, mut data: &[u8]) {
        self.length = self.length.wrapping_add(data.len() as u64);
        if self.buffered > 0 {
            let take = data.len().min(BLOCK_LEN - self.buffered);
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
            self.buffered += take;
            data = &data[take..];
            if self.buffered < BLOCK_LEN {
                return;
            }
            compress256(&mut self.state, std::slice::from_ref(&self.buffer));
            self.buffered = 0;
        }
        let (blocks, rest) = data.as_chunks::<BLOCK_LEN>();
        if !blocks.is_empty() {
            compress256(&mut self.state, blocks);
        }
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// Appends `bytes` as one field of the protocol's framing: its length as
    /// four big-endian bytes, then the bytes (`primitives::framing`).
    pub fn field(&mut self, bytes: &[u8]) {
        // Every field the protocol frames is bounded by a wire limit far
        // below 4 GiB, as in `Framer::field`.
        self.update(&(bytes.len() as u32).to_be_bytes());
        self.update(bytes);
    }

    /// The tag. The outer hash reuses the run's state and buffer, which
    /// are wiped when the run drops.
    pub fn finish(mut self) -> [u8; TAG_LEN] {
        self.finish_inner();
        // The inner hash goes straight into the outer block.
        for (chunk, word) in self.buffer[..TAG_LEN].chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        self.buffer[TAG_LEN] = 0x80;
        self.buffer[TAG_LEN + 1..].fill(0);
        // The outer hash covers the key's outer block and the inner hash.
        self.buffer[BLOCK_LEN - 8..]
            .copy_from_slice(&(((BLOCK_LEN + TAG_LEN) as u64) * 8).to_be_bytes());
        self.state = self.key.outer;
        compress256(&mut self.state, std::slice::from_ref(&self.buffer));
        state_bytes(&self.state)
    }

    /// Pads and closes the inner hash (SHA-256's padding: 0x80, zeros, the
    /// length in bits as 8 big-endian bytes).
    fn finish_inner(&mut self) {
        let bits = self.length.wrapping_mul(8);
        self.buffer[self.buffered] = 0x80;
        self.buffer[self.buffered + 1..].fill(0);
        if self.buffered + 1 > BLOCK_LEN - 8 {
            compress256(&mut self.state, std::slice::from_ref(&self.buffer));
            self.buffer.fill(0);
        }
        self.buffer[BLOCK_LEN - 8..].copy_from_slice(&bits.to_be_bytes());
        compress256(&mut self.state, std::slice::from_ref(&self.buffer));
    }
}

fn state_bytes(state: &[u32; 8]) -> [u8; TAG_LEN] {
    let mut out = [0u8; TAG_LEN];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, KeyInit, Mac};
    use proptest::prelude::*;
    use sha2::Sha256;

    fn reference(key: &[u8], data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    fn hex(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    /// RFC 4231, test cases 1, 2, 6 and 7 (a short key, a short one with a
    /// short text, and keys longer than a block).
    #[test]
    fn rfc_4231_vectors() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 4] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, data, tag) in cases {
            assert_eq!(HmacKey::new(&key).mac(&[&data]).to_vec(), hex(tag));
        }
    }

    /// Every length around the block and padding boundaries, split at every
    /// point, agrees with the `hmac` crate.
    #[test]
    fn agrees_with_the_hmac_crate_at_every_boundary() {
        let data: Vec<u8> = (0..200u8).collect();
        for key_len in [0, 1, 32, 63, 64, 65, 100] {
            let key = vec![0x42; key_len];
            let prepared = HmacKey::new(&key);
            for len in 0..data.len() {
                let expected = reference(&key, &data[..len]);
                assert_eq!(prepared.mac(&[&data[..len]]), expected, "{key_len}/{len}");
                let (a, b) = data[..len].split_at(len / 3);
                assert_eq!(prepared.mac(&[a, b]), expected, "{key_len}/{len} split");
            }
        }
    }

    #[test]
    fn a_prepared_key_gives_the_same_tag_every_time_and_when_cloned() {
        let key = HmacKey::new(&[7; 32]);
        let copy = key.clone();
        assert_eq!(key.mac(&[b"a"]), copy.mac(&[b"a"]));
        assert_eq!(key.mac(&[b"a"]), key.mac(&[b"a"]));
        assert_ne!(key.mac(&[b"a"]), key.mac(&[b"b"]));
        assert_eq!(format!("{key:?}"), "HmacKey(<redacted>)");
    }

    #[test]
    fn framed_fields_are_length_prefixed() {
        let key = HmacKey::new(&[1; 32]);
        let mut run = key.start();
        run.field(b"ab");
        run.field(b"");
        assert_eq!(run.finish(), reference(&[1; 32], b"\0\0\0\x02ab\0\0\0\0"));
    }

    proptest! {
        #[test]
        fn agrees_with_the_hmac_crate(
            key in proptest::collection::vec(any::<u8>(), 0..150),
            parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..150), 0..5),
        ) {
            let whole: Vec<u8> = parts.concat();
            let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(HmacKey::new(&key).mac(&slices), reference(&key, &whole));
        }
    }
}
