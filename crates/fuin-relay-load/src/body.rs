//! The sealed bodies the tool sends: a header naming the run, sender,
//! recipient, sequence number and send time, then filler derived from it, so
//! a recipient can tell whether what it fetched is intact and meant for it.

/// Bytes of the header at the start of each sealed body.
pub(crate) const HEADER_LEN: usize = 32;
const MAGIC: &[u8; 4] = b"FLD1";

/// SplitMix64: the filler after the header, reproducible from the header.
pub(crate) struct Filler(u64);

impl Filler {
    pub(crate) fn new(run: u64, sender: u32, seq: u32) -> Self {
        Self(run ^ (u64::from(sender) << 32 | u64::from(seq)).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn fill(mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// What a body's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) run: u64,
    pub(crate) sender: u32,
    pub(crate) recipient: u32,
    pub(crate) seq: u32,
    /// Nanoseconds since the run's epoch when the send started.
    pub(crate) sent_at_ns: u64,
}

pub(crate) fn make_body(header: Header, size: usize) -> Vec<u8> {
    let mut body = vec![0u8; size];
    body[0..4].copy_from_slice(MAGIC);
    body[4..12].copy_from_slice(&header.run.to_le_bytes());
    body[12..16].copy_from_slice(&header.sender.to_le_bytes());
    body[16..20].copy_from_slice(&header.recipient.to_le_bytes());
    body[20..24].copy_from_slice(&header.seq.to_le_bytes());
    body[24..32].copy_from_slice(&header.sent_at_ns.to_le_bytes());
    Filler::new(header.run, header.sender, header.seq).fill(&mut body[HEADER_LEN..]);
    body
}

/// The header of `body` if it is one of ours, intact.
pub(crate) fn read_body(body: &[u8]) -> Option<(Header, bool)> {
    if body.len() < HEADER_LEN || &body[0..4] != MAGIC {
        return None;
    }
    let u32_at = |at: usize| body[at..at + 4].try_into().ok().map(u32::from_le_bytes);
    let u64_at = |at: usize| body[at..at + 8].try_into().ok().map(u64::from_le_bytes);
    let header = Header {
        run: u64_at(4)?,
        sender: u32_at(12)?,
        recipient: u32_at(16)?,
        seq: u32_at(20)?,
        sent_at_ns: u64_at(24)?,
    };
    let mut expected = vec![0u8; body.len() - HEADER_LEN];
    Filler::new(header.run, header.sender, header.seq).fill(&mut expected);
    Some((header, expected == body[HEADER_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_reads_back_and_a_changed_byte_is_noticed() {
        let header = Header {
            run: 0x1234_5678_9abc_def0,
            sender: 3,
            recipient: 5,
            seq: 77,
            sent_at_ns: 123_456_789,
        };
        let mut body = make_body(header, 1000);
        assert_eq!(read_body(&body), Some((header, true)));
        body[999] ^= 1;
        assert_eq!(read_body(&body), Some((header, false)));
        body[0] = b'X';
        assert_eq!(read_body(&body), None);
        assert_eq!(
            read_body(&make_body(header, HEADER_LEN)),
            Some((header, true))
        );
    }
}
