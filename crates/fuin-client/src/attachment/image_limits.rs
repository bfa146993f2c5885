//! Decoding images within fixed limits (`spec/attachments.md` §13).
//!
//! A thumbnail comes from a peer, and a file a thumbnail is made of may have
//! come from one too: either can be a decompression bomb, a few bytes whose
//! header claims billions of pixels. So the size of the compressed bytes is
//! checked first, then the dimensions are read from the header and checked
//! (each side, and the pixel count) before a single pixel is decoded, and
//! the decoder runs with its own allocation limit as a second fence. What
//! breaks a limit is an [`ImageRefusal`] naming it; nothing panics and
//! nothing large is allocated.

use std::fmt;
use std::io::{BufRead, Seek, SeekFrom};

use image::{DynamicImage, ImageError, ImageFormat, ImageReader};

/// The limits one kind of image is decoded within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// The most bytes of compressed (file) data.
    pub max_bytes: u64,
    /// The longest side, in pixels.
    pub max_side: u32,
    /// The most pixels (width × height).
    pub max_pixels: u64,
    /// The most memory the decoder may allocate, in bytes.
    pub max_alloc: u64,
}

/// A thumbnail a peer sent. Thumbnails are made at most 160 × 160
/// ([`MAX_THUMBNAIL_SIDE`](super::MAX_THUMBNAIL_SIDE)); these leave room for
/// other clients' larger ones and no more.
pub const PEER_THUMBNAIL_LIMITS: ImageLimits = ImageLimits {
    max_bytes: 1024 * 1024,
    max_side: 1024,
    max_pixels: 512 * 1024,
    max_alloc: 16 * 1024 * 1024,
};

/// An image file a thumbnail is made of before it is sent (a photo: up to
/// 50 megapixels).
pub const THUMBNAIL_SOURCE_LIMITS: ImageLimits = ImageLimits {
    max_bytes: 64 * 1024 * 1024,
    max_side: 16_384,
    max_pixels: 50_000_000,
    max_alloc: 256 * 1024 * 1024,
};

/// Why an image was not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageRefusal {
    /// The compressed bytes are longer than the limit.
    TooManyBytes {
        /// Their length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Not a PNG or JPEG image.
    UnsupportedFormat,
    /// A side the header claims is longer than the limit.
    SideTooLong {
        /// The width the header claims.
        width: u32,
        /// The height the header claims.
        height: u32,
        /// The limit on either side.
        max_side: u32,
    },
    /// The header claims more pixels than the limit.
    TooManyPixels {
        /// The width the header claims.
        width: u32,
        /// The height the header claims.
        height: u32,
        /// The limit on width × height.
        max_pixels: u64,
    },
    /// Decoding would allocate more memory than the limit.
    OverMemoryLimit {
        /// The limit, in bytes.
        max_alloc: u64,
    },
    /// The bytes are not a readable image (a bad header, or damaged data).
    Unreadable,
}

impl fmt::Display for ImageRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyBytes { len, max } => {
                write!(f, "the image is {len} bytes, over the limit of {max} bytes")
            }
            Self::UnsupportedFormat => f.write_str("the image is not a PNG or JPEG"),
            Self::SideTooLong {
                width,
                height,
                max_side,
            } => write!(
                f,
                "the image claims {width}×{height} pixels, over the limit of {max_side} pixels a side"
            ),
            Self::TooManyPixels {
                width,
                height,
                max_pixels,
            } => write!(
                f,
                "the image claims {width}×{height} pixels, over the limit of {max_pixels} pixels"
            ),
            Self::OverMemoryLimit { max_alloc } => write!(
                f,
                "decoding the image would take more than the limit of {max_alloc} bytes of memory"
            ),
            Self::Unreadable => f.write_str("the image is damaged or not an image"),
        }
    }
}

impl std::error::Error for ImageRefusal {}

fn refusal_of(err: &ImageError, limits: &ImageLimits) -> ImageRefusal {
    match err {
        ImageError::Limits(_) => ImageRefusal::OverMemoryLimit {
            max_alloc: limits.max_alloc,
        },
        ImageError::Unsupported(_) => ImageRefusal::UnsupportedFormat,
        _ => ImageRefusal::Unreadable,
    }
}

/// Decodes the PNG or JPEG image `source` holds (`len` bytes from its
/// start) within `limits`.
pub fn decode_within<R: BufRead + Seek>(
    mut source: R,
    len: u64,
    limits: &ImageLimits,
) -> Result<DynamicImage, ImageRefusal> {
    if len > limits.max_bytes {
        return Err(ImageRefusal::TooManyBytes {
            len,
            max: limits.max_bytes,
        });
    }
    let format = ImageReader::new(&mut source)
        .with_guessed_format()
        .map_err(|_| ImageRefusal::Unreadable)?
        .format();
    let format = match format {
        Some(format @ (ImageFormat::Png | ImageFormat::Jpeg)) => format,
        _ => return Err(ImageRefusal::UnsupportedFormat),
    };
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(limits.max_alloc);

    // The header alone: no pixel is decoded yet.
    source
        .seek(SeekFrom::Start(0))
        .map_err(|_| ImageRefusal::Unreadable)?;
    let mut header = ImageReader::with_format(&mut source, format);
    header.limits(decoder_limits.clone());
    let (width, height) = header
        .into_dimensions()
        .map_err(|err| refusal_of(&err, limits))?;
    if width > limits.max_side || height > limits.max_side {
        return Err(ImageRefusal::SideTooLong {
            width,
            height,
            max_side: limits.max_side,
        });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImageRefusal::TooManyPixels {
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }

    source
        .seek(SeekFrom::Start(0))
        .map_err(|_| ImageRefusal::Unreadable)?;
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    let mut reader = ImageReader::with_format(&mut source, format);
    reader.limits(decoder_limits);
    reader.decode().map_err(|err| refusal_of(&err, limits))
}

/// [`decode_within`] of bytes in memory.
pub fn decode_bytes_within(
    bytes: &[u8],
    limits: &ImageLimits,
) -> Result<DynamicImage, ImageRefusal> {
    decode_within(std::io::Cursor::new(bytes), bytes.len() as u64, limits)
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The CRC-32 of PNG chunks (ISO 3309), written out so that a test can
    /// forge a header.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, 90])
        });
        let mut out = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    /// A small real PNG whose header is rewritten to claim `width` ×
    /// `height` (with a correct CRC, so only the size is a lie): a
    /// decompression bomb of a few hundred bytes.
    pub(crate) fn png_claiming(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = png(4, 4);
        // Signature (8), IHDR length (4), "IHDR" (4), then width and height.
        assert_eq!(&bytes[12..16], b"IHDR");
        bytes[16..20].copy_from_slice(&width.to_be_bytes());
        bytes[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    /// A small real JPEG whose frame header (SOF0) is rewritten to claim
    /// `width` × `height`.
    fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(8, 8, image::Rgb([10, 200, 30]));
        let mut bytes = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Jpeg)
            .unwrap();
        let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        // Marker (2), length (2), precision (1), then height and width.
        bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        bytes
    }

    #[test]
    fn a_normal_thumbnail_decodes() {
        let image = decode_bytes_within(&png(160, 107), &PEER_THUMBNAIL_LIMITS).unwrap();
        assert_eq!((image.width(), image.height()), (160, 107));
    }

    #[test]
    fn a_png_claiming_fifty_thousand_pixels_a_side_is_refused_before_decoding() {
        let bomb = png_claiming(50_000, 50_000);
        assert!(bomb.len() < 200, "{} bytes", bomb.len());
        for limits in [PEER_THUMBNAIL_LIMITS, THUMBNAIL_SOURCE_LIMITS] {
            assert_eq!(
                decode_bytes_within(&bomb, &limits).unwrap_err(),
                ImageRefusal::SideTooLong {
                    width: 50_000,
                    height: 50_000,
                    max_side: limits.max_side
                }
            );
        }
    }

    #[test]
    fn a_jpeg_claiming_a_huge_frame_is_refused_before_decoding() {
        let bomb = jpeg_claiming(60_000, 60_000);
        assert_eq!(
            decode_bytes_within(&bomb, &PEER_THUMBNAIL_LIMITS).unwrap_err(),
            ImageRefusal::SideTooLong {
                width: 60_000,
                height: 60_000,
                max_side: 1024
            }
        );
    }

    #[test]
    fn sides_within_the_limit_but_too_many_pixels_are_refused() {
        // 1,024 × 1,024 pixels: each side is allowed, the product is not.
        let err = decode_bytes_within(&png_claiming(1024, 1024), &PEER_THUMBNAIL_LIMITS);
        assert_eq!(
            err.unwrap_err(),
            ImageRefusal::TooManyPixels {
                width: 1024,
                height: 1024,
                max_pixels: 512 * 1024
            }
        );
        // 10,000 × 6,000 (60 megapixels) for a file a thumbnail is made of.
        let err = decode_bytes_within(&png_claiming(10_000, 6_000), &THUMBNAIL_SOURCE_LIMITS);
        assert_eq!(
            err.unwrap_err(),
            ImageRefusal::TooManyPixels {
                width: 10_000,
                height: 6_000,
                max_pixels: 50_000_000
            }
        );
    }

    #[test]
    fn the_decoder_stops_at_its_allocation_limit() {
        let tight = ImageLimits {
            max_alloc: 16 * 1024,
            ..PEER_THUMBNAIL_LIMITS
        };
        // 100 × 100 RGB is 30,000 bytes decoded: within the pixel limits,
        // over the memory limit.
        assert_eq!(
            decode_bytes_within(&png(100, 100), &tight).unwrap_err(),
            ImageRefusal::OverMemoryLimit {
                max_alloc: 16 * 1024
            }
        );
    }

    #[test]
    fn a_header_that_lies_within_the_limits_is_unreadable_not_a_panic() {
        // Claims 512 × 512 but carries the pixel data of 4 × 4.
        assert_eq!(
            decode_bytes_within(&png_claiming(512, 512), &PEER_THUMBNAIL_LIMITS).unwrap_err(),
            ImageRefusal::Unreadable
        );
    }

    #[test]
    fn too_many_bytes_and_other_formats_are_refused() {
        let long = vec![0u8; 1024 * 1024 + 1];
        assert_eq!(
            decode_bytes_within(&long, &PEER_THUMBNAIL_LIMITS).unwrap_err(),
            ImageRefusal::TooManyBytes {
                len: 1024 * 1024 + 1,
                max: 1024 * 1024
            }
        );
        assert_eq!(
            decode_bytes_within(b"GIF89a\x01\x00\x01\x00", &PEER_THUMBNAIL_LIMITS).unwrap_err(),
            ImageRefusal::UnsupportedFormat
        );
        assert_eq!(
            decode_bytes_within(b"not an image at all", &PEER_THUMBNAIL_LIMITS).unwrap_err(),
            ImageRefusal::UnsupportedFormat
        );
    }

    #[test]
    fn the_refusal_names_the_limit() {
        let err =
            decode_bytes_within(&png_claiming(50_000, 50_000), &PEER_THUMBNAIL_LIMITS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the image claims 50000×50000 pixels, over the limit of 1024 pixels a side"
        );
    }
}
