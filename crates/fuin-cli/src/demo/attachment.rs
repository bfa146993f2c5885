//! The demo's attachment step: alice shares a photo (made here) with bob;
//! her device seals it and a thumbnail, the relay stores two opaque blobs,
//! bob's phone checks and opens both.

use std::path::Path;

use fuin_client::SendFileOptions;
use fuin_wire::ContentType;
use sha2::{Digest, Sha256};

use super::{Demo, NOW, demo_failure};
use crate::output::Failure;

/// The photo's file name, in the demo's directory.
pub const PHOTO: &str = "alice-photo.png";
/// Where bob's phone writes what it opened.
pub const RECEIVED: &str = "bob-received-photo.png";

/// A 480 × 320 picture: a sky gradient, a sun, and a little grain (so that
/// it spans several 64 KiB chunks as a PNG).
fn make_photo(path: &Path) -> Result<(), Failure> {
    let mut grain = 0x9e37_79b9_u32;
    let image = image::RgbImage::from_fn(480, 320, |x, y| {
        grain ^= grain << 13;
        grain ^= grain >> 17;
        grain ^= grain << 5;
        let noise = (grain & 0x1f) as u8;
        let (dx, dy) = (i64::from(x) - 360, i64::from(y) - 90);
        if dx * dx + dy * dy < 45 * 45 {
            image::Rgb([250, 200u8.saturating_add(noise), 60])
        } else {
            let sky = u8::try_from(y * 200 / 320).unwrap_or(200);
            image::Rgb([40 + noise, 90u8.saturating_add(sky / 2), 255 - sky / 4])
        }
    });
    image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|err| demo_failure(format!("making the demo photo: {err}")))
}

fn short(hex: &str) -> &str {
    hex.get(..16).unwrap_or(hex)
}

impl Demo {
    /// alice sends bob a photo with its thumbnail; bob's phone fetches,
    /// checks and opens both.
    pub(super) async fn share_a_photo(&mut self) -> Result<(), Failure> {
        let photo = self.dir.join(PHOTO);
        make_photo(&photo)?;
        let original = std::fs::read(&photo)
            .map_err(|err| demo_failure(format!("reading the demo photo: {err}")))?;
        let sent = self
            .alice
            .send_file("bob", &photo, &SendFileOptions::default())
            .await?;
        let attachment = &sent.attachment;
        self.out.step(
            "alice sends bob a photo: her device seals it, and a thumbnail it makes, as two objects.",
        );
        let chunks = sent.size.div_ceil(64 * 1024);
        self.out.line(format!(
            "alice/1 → bob: {PHOTO} ({}, {} bytes, SHA-256 {}…) in {chunks} chunks of 64 KiB",
            attachment.content_type,
            sent.size,
            short(&sent.sha256)
        ));
        self.out.line(format!(
            "uploaded as blob {}… ({} bytes of ciphertext), bound to alice/1, the conversation and the object",
            short(&attachment.blob_id),
            attachment.sealed_len
        ));
        if let (Some(thumbnail), Some((width, height))) =
            (&attachment.thumbnail, sent.thumbnail_dimensions)
        {
            self.out.line(format!(
                "thumbnail {width}×{height} made on alice/1, sealed with its own key: blob {}… ({} bytes)",
                short(&thumbnail.blob_id),
                thumbnail.sealed_len
            ));
        }
        // What the relay has: blobs whose bytes are not the photo's, as
        // files of its blob directory (its database holds their records).
        let blob_dir = super::blob_dir(&self.relay.database);
        let blobs = stored_blobs(&blob_dir)?;
        let sample = original.get(4096..4160).unwrap_or(&original[..]);
        let leaked = blobs
            .iter()
            .any(|blob| blob.windows(sample.len()).any(|window| window == sample));
        self.out.line(format!(
            "The relay's blob directory ({}, next to its database, which keeps only their ids, sizes and expiry) holds {} blobs; {}",
            blob_dir.file_name().map_or_else(String::new, |name| name.to_string_lossy().into_owned()),
            blobs.len(),
            if leaked {
                "one of them CONTAINS the photo's bytes"
            } else {
                "none holds the photo's bytes, a key, or says which is the thumbnail"
            }
        ));

        self.bob_phone.sync(NOW).await?;
        self.out.step(
            "bob's phone syncs, then fetches both blobs: it checks each one's context, key commitment, every chunk and its hash before showing anything.",
        );
        let history = self.bob_phone.history("alice", 20).await?;
        let Some(message) = history
            .iter()
            .rev()
            .find(|m| m.content_type == ContentType::Attachment)
        else {
            return Err(demo_failure("bob's phone did not receive the photo".into()));
        };
        self.out
            .line(format!("bob/1 shows   {}", super::quoted(message)));
        let out = self.dir.join(RECEIVED);
        let fetched = self
            .bob_phone
            .fetch_attachment(message.local_id, &out)
            .await?;
        let written = std::fs::read(&out)
            .map_err(|err| demo_failure(format!("reading the received photo: {err}")))?;
        let written_hash = hex::encode(Sha256::digest(&written));
        self.out.line(format!(
            "bob/1 wrote {} bytes to {RECEIVED}, SHA-256 {}…",
            fetched.size,
            short(&written_hash)
        ));
        self.out.line(
            if written == original && written_hash == sent.sha256 && fetched.sha256 == sent.sha256 {
                "Sizes and hashes match: bob has exactly the photo alice sent."
            } else {
                "The photo DIFFERS from what alice sent."
            },
        );
        match self.bob_phone.fetch_thumbnail(message.local_id).await? {
            Some(thumbnail) => {
                let (width, height) = thumbnail.dimensions;
                self.out.line(format!(
                    "bob/1 opened the thumbnail: {width}×{height} {} ({} bytes){}",
                    thumbnail.content_type,
                    thumbnail.bytes.len(),
                    if Some((width, height)) == sent.thumbnail_dimensions {
                        ", the one alice made"
                    } else {
                        ", NOT the one alice made"
                    }
                ));
            }
            None => self.out.line("the photo came without a thumbnail"),
        }
        Ok(())
    }
}

/// The relay's stored blobs: the files of its blob directory (temporary
/// files of writes in progress left out).
fn stored_blobs(dir: &Path) -> Result<Vec<Vec<u8>>, Failure> {
    let failed = |err: std::io::Error| demo_failure(format!("reading the relay's blobs: {err}"));
    let mut blobs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(failed)? {
        let entry = entry.map_err(failed)?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        blobs.push(std::fs::read(entry.path()).map_err(failed)?);
    }
    Ok(blobs)
}
