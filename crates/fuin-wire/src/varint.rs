//! The unsigned LEB128 varint that postcard uses for integers and tags.

use crate::WireError;

/// Reads the varint-encoded `u32` at the start of `bytes`.
///
/// Used only to look at a frame's tag before handing the frame to postcard,
/// so that an unknown tag gets its own error.
pub(crate) fn read_u32(bytes: &[u8]) -> Result<u32, WireError> {
    let mut value: u32 = 0;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        let low = u32::from(byte & 0x7f);
        if i == 4 && *byte > 0x0f {
            return Err(WireError::Malformed {
                reason: "bad varint",
            });
        }
        value |= low << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    // Fewer than five bytes, each announcing another one.
    Err(WireError::Truncated)
}

/// Appends `value` as a varint.
pub(crate) fn write_u32(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_boundary_values() {
        for value in [0, 1, 127, 128, 16_383, 16_384, u32::MAX] {
            let mut out = Vec::new();
            write_u32(&mut out, value);
            assert_eq!(read_u32(&out), Ok(value));
        }
    }

    #[test]
    fn rejects_overflowing_fifth_byte() {
        assert_eq!(
            read_u32(&[0xff, 0xff, 0xff, 0xff, 0x10]),
            Err(WireError::Malformed {
                reason: "bad varint"
            })
        );
    }

    #[test]
    fn reports_truncation() {
        assert_eq!(read_u32(&[]), Err(WireError::Truncated));
        assert_eq!(read_u32(&[0x80, 0x80]), Err(WireError::Truncated));
    }
}
