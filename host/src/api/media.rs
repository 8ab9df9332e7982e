//! Media uploads: temporary media (`/cgi-bin/media/upload`, kept 3 days)
//! and permanent material (`/cgi-bin/material/add_material`), as WeChat's
//! multipart form with the field `media` and a file name whose extension
//! matches the content — the uploads SDK users most often get wrong
//! (40005 "invalid file type" without an extension, 44001 with a
//! hand-set Content-Type that lost its boundary;
//! `wechat-outbound-and-open-platform.md` §B.4).
//!
//! The content's type is read from its first bytes (not trusted from the
//! caller), checked against the media type and WeChat's size limit before
//! any call.

use serde_json::Value;

use super::client::{TOKEN_ERRCODES, errcode, error_for};
use super::{ApiError, Wechat};

/// WeChat's media types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Voice,
    Video,
    Thumb,
}

impl MediaKind {
    pub fn parse(s: &str) -> Option<MediaKind> {
        Some(match s {
            "image" => MediaKind::Image,
            "voice" => MediaKind::Voice,
            "video" => MediaKind::Video,
            "thumb" => MediaKind::Thumb,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Voice => "voice",
            MediaKind::Video => "video",
            MediaKind::Thumb => "thumb",
        }
    }

    /// WeChat's size limit for this type.
    pub fn max_bytes(self) -> usize {
        match self {
            MediaKind::Image | MediaKind::Video => 10 << 20,
            MediaKind::Voice => 2 << 20,
            MediaKind::Thumb => 64 << 10,
        }
    }

    /// The formats WeChat takes for this type (file extensions).
    fn accepts(self, ext: &str) -> bool {
        match self {
            MediaKind::Image => matches!(ext, "jpg" | "png" | "gif" | "bmp"),
            MediaKind::Voice => matches!(ext, "amr" | "mp3"),
            MediaKind::Video => ext == "mp4",
            MediaKind::Thumb => ext == "jpg",
        }
    }
}

/// The largest upload any type allows (what a caller may hand over).
pub const MAX_MEDIA_BYTES: usize = 10 << 20;

/// `(extension, MIME type)` of `bytes`, from their signature.
pub fn sniff(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    Some(match bytes {
        [0x89, b'P', b'N', b'G', ..] => ("png", "image/png"),
        [0xFF, 0xD8, 0xFF, ..] => ("jpg", "image/jpeg"),
        [b'G', b'I', b'F', b'8', ..] => ("gif", "image/gif"),
        [b'B', b'M', ..] => ("bmp", "image/bmp"),
        [b'#', b'!', b'A', b'M', b'R', ..] => ("amr", "audio/amr"),
        [b'I', b'D', b'3', ..] => ("mp3", "audio/mpeg"),
        [0xFF, b, ..] if b & 0xE0 == 0xE0 => ("mp3", "audio/mpeg"),
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => ("mp4", "video/mp4"),
        _ => return None,
    })
}

/// Checks `bytes` for `kind`; the file name and MIME type to send them as.
pub fn check(kind: MediaKind, bytes: &[u8]) -> Result<(String, &'static str), ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::Invalid("media: empty file".into()));
    }
    if bytes.len() > kind.max_bytes() {
        return Err(ApiError::Invalid(format!(
            "media: {} bytes, WeChat takes at most {} for {}",
            bytes.len(),
            kind.max_bytes(),
            kind.as_str()
        )));
    }
    let Some((ext, mime)) = sniff(bytes) else {
        return Err(ApiError::Invalid(format!(
            "media: not a file type WeChat takes for {} (unrecognised content)",
            kind.as_str()
        )));
    };
    if !kind.accepts(ext) {
        return Err(ApiError::Invalid(format!(
            "media: a {ext} file is not a {} WeChat takes",
            kind.as_str()
        )));
    }
    Ok((format!("media.{ext}"), mime))
}

/// An uploaded media item.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Uploaded {
    pub media_id: String,
    /// Permanent images' URL (renders on Tencent domains only).
    pub url: Option<String>,
}

impl Wechat {
    /// Uploads `bytes` as temporary media (`permanent` false, kept 3 days
    /// by WeChat) or permanent material.
    pub async fn upload_media(
        &self,
        kind: MediaKind,
        bytes: &[u8],
        permanent: bool,
    ) -> Result<Uploaded, ApiError> {
        let (file_name, mime) = check(kind, bytes)?;
        let path = if permanent {
            "/cgi-bin/material/add_material"
        } else {
            "/cgi-bin/media/upload"
        };
        self.check_permission(path)?;
        let mut token_retried = false;
        loop {
            let token = self.tokens.get().await?;
            // A form is consumed by its request: built again per attempt.
            let part = reqwest::multipart::Part::bytes(bytes.to_vec())
                .file_name(file_name.clone())
                .mime_str(mime)
                .map_err(|e| ApiError::Invalid(e.to_string()))?;
            let form = reqwest::multipart::Form::new().part("media", part);
            let answer: Value = self
                .client
                .post_multipart(
                    path,
                    &[("access_token", &token), ("type", kind.as_str())],
                    form,
                )
                .await?;
            match errcode(&answer) {
                0 => {
                    let media_id = answer["media_id"]
                        .as_str()
                        .or_else(|| answer["thumb_media_id"].as_str())
                        .ok_or_else(|| {
                            ApiError::Transport(format!("{path}: no media_id in the answer"))
                        })?
                        .to_owned();
                    return Ok(Uploaded {
                        media_id,
                        url: answer["url"].as_str().map(str::to_owned),
                    });
                }
                code if TOKEN_ERRCODES.contains(&code) && !token_retried => {
                    self.tokens.invalidate(&token).await;
                    token_retried = true;
                }
                code => return Err(error_for(code, &answer)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0];
    const JPG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10];

    #[test]
    fn file_names_carry_the_contents_extension() {
        assert_eq!(check(MediaKind::Image, PNG).unwrap().0, "media.png");
        assert_eq!(
            check(MediaKind::Thumb, JPG).unwrap(),
            ("media.jpg".into(), "image/jpeg")
        );
        let mp4 = [
            0, 0, 0, 0x18, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm',
        ];
        assert_eq!(check(MediaKind::Video, &mp4).unwrap().0, "media.mp4");
        assert_eq!(
            check(MediaKind::Voice, b"#!AMR\n..").unwrap().0,
            "media.amr"
        );
    }

    #[test]
    fn wrong_types_and_sizes_are_refused_before_the_call() {
        assert!(
            check(MediaKind::Voice, PNG)
                .unwrap_err()
                .to_string()
                .contains("png")
        );
        assert!(check(MediaKind::Thumb, PNG).is_err());
        assert!(check(MediaKind::Image, b"plain text").is_err());
        assert!(check(MediaKind::Image, b"").is_err());
        let mut big = JPG.to_vec();
        big.resize(65 << 10, 0);
        let e = check(MediaKind::Thumb, &big).unwrap_err().to_string();
        assert!(e.contains("at most 65536"), "{e}");
        assert!(check(MediaKind::Image, &big).is_ok());
    }
}
