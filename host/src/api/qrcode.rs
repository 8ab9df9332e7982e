//! Parametric QR codes: `POST /cgi-bin/qrcode/create`, every created code
//! stored (scene, ticket, URL, expiry, note), the 100,000 permanent-code quota
//! enforced locally (a slot is reserved in the store before WeChat is
//! called, and given back if the call fails), the showqrcode image URL, and
//! local PNG/SVG rendering of the encoded URL.
//!
//! When a subscribe or SCAN event arrives, the server looks the scene up with
//! [`crate::store::QrStore::by_scene_at`] and hands the stored record to
//! plugins.

use serde_json::{Value, json};

use super::{ApiError, QrCode, QrCodeRequest, Wechat};
use crate::store::{QrRecord, Reservation};

/// Longest lifetime of a temporary code (30 days).
pub const MAX_EXPIRE_SECONDS: u32 = 2_592_000;
/// Lifetime of a temporary code when none is given. WeChat's own default
/// (60 s) is almost never what anyone wants.
pub const DEFAULT_EXPIRE_SECONDS: u32 = 604_800;
/// Permanent codes take `scene_id` 1..=100000.
pub const MAX_PERMANENT_SCENE_ID: u32 = 100_000;
/// `scene_str` is 1..=64 bytes.
pub const MAX_SCENE_STR_BYTES: usize = 64;

/// The scene a code carries (and that comes back in the event's EventKey).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scene {
    Id(u32),
    Str(String),
}

impl Scene {
    /// The scene as stored and as it appears in events.
    pub fn key(&self) -> String {
        match self {
            Scene::Id(n) => n.to_string(),
            Scene::Str(s) => s.clone(),
        }
    }

    /// A positive integer becomes `scene_id`, anything else `scene_str`
    /// (the rule of [`QrCodeRequest`]).
    pub fn loose(s: &str) -> Scene {
        match s.parse::<u32>() {
            Ok(n) if n > 0 && !s.starts_with('0') && !s.starts_with('+') => Scene::Id(n),
            _ => Scene::Str(s.to_owned()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrKind {
    Temporary { expire_seconds: u32 },
    Permanent,
}

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCreate {
    pub scene: Scene,
    pub kind: QrKind,
    pub note: Option<String>,
}

impl QrCreate {
    /// From a plugin's request, validated.
    pub fn from_request(r: &QrCodeRequest) -> Result<QrCreate, ApiError> {
        let kind = match r.expire_seconds {
            Some(expire_seconds) => QrKind::Temporary { expire_seconds },
            None => QrKind::Permanent,
        };
        let create = QrCreate {
            scene: Scene::loose(&r.scene),
            kind,
            note: r.note.clone(),
        };
        create.validate()?;
        Ok(create)
    }

    /// WeChat's limits (§7.5), checked before any call.
    pub fn validate(&self) -> Result<(), ApiError> {
        let bad = |m: String| Err(ApiError::Invalid(m));
        match (&self.scene, self.kind) {
            (Scene::Id(0), _) => return bad("scene_id must not be 0".into()),
            (Scene::Id(n), QrKind::Permanent) if *n > MAX_PERMANENT_SCENE_ID => {
                return bad(format!(
                    "a permanent code's scene_id must be 1..={MAX_PERMANENT_SCENE_ID} (got {n}); use a scene string instead"
                ));
            }
            (Scene::Id(n), QrKind::Temporary { .. }) if *n > i32::MAX as u32 => {
                return bad(format!("scene_id must fit in 32 bits signed (got {n})"));
            }
            (Scene::Str(s), _) if s.is_empty() || s.len() > MAX_SCENE_STR_BYTES => {
                return bad(format!(
                    "scene_str must be 1..={MAX_SCENE_STR_BYTES} bytes (got {})",
                    s.len()
                ));
            }
            _ => {}
        }
        if let QrKind::Temporary { expire_seconds } = self.kind
            && !(1..=MAX_EXPIRE_SECONDS).contains(&expire_seconds)
        {
            return bad(format!(
                "expire_seconds must be 1..={MAX_EXPIRE_SECONDS} (30 days), got {expire_seconds}"
            ));
        }
        Ok(())
    }

    /// The request body for `/cgi-bin/qrcode/create`.
    pub fn body(&self) -> Value {
        let (action, scene) = match (&self.scene, self.kind) {
            (Scene::Id(n), QrKind::Temporary { .. }) => ("QR_SCENE", json!({"scene_id": n})),
            (Scene::Str(s), QrKind::Temporary { .. }) => ("QR_STR_SCENE", json!({"scene_str": s})),
            (Scene::Id(n), QrKind::Permanent) => ("QR_LIMIT_SCENE", json!({"scene_id": n})),
            (Scene::Str(s), QrKind::Permanent) => ("QR_LIMIT_STR_SCENE", json!({"scene_str": s})),
        };
        // The `scene` nesting matters: without it WeChat's events carry EventKey 0.
        let mut body = json!({"action_name": action, "action_info": {"scene": scene}});
        if let QrKind::Temporary { expire_seconds } = self.kind {
            body["expire_seconds"] = json!(expire_seconds);
        }
        body
    }
}

/// The image of a code: `https://mp.weixin.qq.com/cgi-bin/showqrcode` with
/// the ticket URL-encoded (tickets contain `+`, `/` and `=`).
pub fn showqrcode_url(ticket: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(ticket.as_bytes()).collect();
    format!("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket={encoded}")
}

fn encode(content: &str) -> Result<::qrcode::QrCode, ApiError> {
    ::qrcode::QrCode::new(content.as_bytes())
        .map_err(|e| ApiError::Invalid(format!("cannot encode `{content}` as a QR code: {e}")))
}

/// An SVG image of a QR code encoding `content` (a code's `url`).
pub fn render_svg(content: &str) -> Result<String, ApiError> {
    Ok(encode(content)?
        .render::<::qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

/// A PNG (8-bit greyscale) of a QR code encoding `content`, `scale` pixels
/// per module, with the standard 4-module quiet zone.
pub fn render_png(content: &str, scale: u32) -> Result<Vec<u8>, ApiError> {
    let code = encode(content)?;
    let modules = code.width() as u32;
    let colors = code.to_colors();
    let scale = scale.clamp(1, 64);
    let quiet = 4;
    let size = (modules + 2 * quiet) * scale;
    let mut pixels = vec![255u8; (size * size) as usize];
    for (i, c) in colors.iter().enumerate() {
        if *c != ::qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i as u32 % modules, i as u32 / modules);
        for dy in 0..scale {
            let row = ((my + quiet) * scale + dy) * size;
            let start = (row + (mx + quiet) * scale) as usize;
            pixels[start..start + scale as usize].fill(0);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, size, size);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let png_err = |e: png::EncodingError| ApiError::Invalid(format!("PNG encoding: {e}"));
    let mut writer = encoder.write_header().map_err(png_err)?;
    writer.write_image_data(&pixels).map_err(png_err)?;
    writer.finish().map_err(png_err)?;
    Ok(out)
}

impl Wechat {
    /// Creates a code and stores it. A permanent code for a scene that
    /// already has one is returned as stored (no call, no quota used; WeChat
    /// would return the same code). A permanent code takes its quota slot
    /// in the store before WeChat is called, so past the quota (parallel
    /// creators included) the request is refused without a call; a failed
    /// call gives the slot back.
    pub async fn create_qrcode(&self, req: &QrCreate) -> Result<QrRecord, ApiError> {
        req.validate()?;
        if req.kind != QrKind::Permanent {
            let code = self.call_qrcode_create(req).await?;
            let id = self.qrcodes.insert(&code, None).await?;
            return Ok(QrRecord { id, code });
        }
        let scene = req.scene.key();
        let limit = self.options.permanent_qr_limit;
        let reservation = match self
            .qrcodes
            .reserve_permanent(&scene, limit, crate::store::now_secs())
            .await?
        {
            Reservation::Reserved(id) => id,
            Reservation::Exists(record) => return Ok(record),
            Reservation::Busy => {
                return Err(ApiError::Invalid(format!(
                    "a permanent QR code for scene `{scene}` is being created by another caller; try again shortly"
                )));
            }
        };
        let code = match self.call_qrcode_create(req).await {
            Ok(code) => code,
            Err(e) => {
                if let Err(release) = self.qrcodes.release_permanent(reservation).await {
                    // The slot comes back when the reservation expires.
                    tracing::warn!(error = %release, "could not release a permanent QR code reservation");
                }
                return Err(e);
            }
        };
        let id = self.qrcodes.complete_permanent(reservation, &code).await?;
        Ok(QrRecord { id, code })
    }

    /// `qrcode/create`, and the code it answers.
    async fn call_qrcode_create(&self, req: &QrCreate) -> Result<QrCode, ApiError> {
        let answer = self.post("/cgi-bin/qrcode/create", &req.body()).await?;
        let field = |k: &str| {
            answer
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let (Some(ticket), Some(url)) = (field("ticket"), field("url")) else {
            return Err(ApiError::Transport(
                "qrcode/create answer lacks ticket or url".into(),
            ));
        };
        let now = crate::unix_now();
        let expires_at = match req.kind {
            QrKind::Permanent => None,
            // WeChat's answer is authoritative; fall back to what was asked.
            QrKind::Temporary { expire_seconds } => Some(
                now + answer
                    .get("expire_seconds")
                    .and_then(Value::as_u64)
                    .unwrap_or(u64::from(expire_seconds)),
            ),
        };
        Ok(QrCode {
            scene: req.scene.key(),
            ticket,
            url,
            permanent: req.kind == QrKind::Permanent,
            expires_at,
            note: req.note.clone(),
            created_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_limits() {
        let c = QrCreate {
            scene: Scene::Id(7),
            kind: QrKind::Temporary { expire_seconds: 60 },
            note: None,
        };
        assert_eq!(
            c.body(),
            json!({"expire_seconds": 60, "action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 7}}})
        );
        let p = QrCreate {
            scene: Scene::Str("x".into()),
            kind: QrKind::Permanent,
            note: None,
        };
        assert_eq!(
            p.body(),
            json!({"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "x"}}})
        );
        assert!(
            QrCreate {
                scene: Scene::Id(100_001),
                kind: QrKind::Permanent,
                note: None
            }
            .validate()
            .is_err()
        );
        assert!(
            QrCreate {
                scene: Scene::Str("a".repeat(65)),
                kind: QrKind::Permanent,
                note: None
            }
            .validate()
            .is_err()
        );
        assert!(
            QrCreate {
                scene: Scene::Id(1),
                kind: QrKind::Temporary {
                    expire_seconds: MAX_EXPIRE_SECONDS + 1
                },
                note: None
            }
            .validate()
            .is_err()
        );
        assert_eq!(Scene::loose("42"), Scene::Id(42));
        assert_eq!(Scene::loose("042"), Scene::Str("042".into()));
        assert_eq!(Scene::loose("0"), Scene::Str("0".into()));
        assert_eq!(Scene::loose("abc"), Scene::Str("abc".into()));
    }

    #[test]
    fn ticket_is_url_encoded() {
        assert_eq!(
            showqrcode_url("gQ+H/4=="),
            "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQ%2BH%2F4%3D%3D"
        );
    }

    #[test]
    fn renders_png_and_svg() {
        let png = render_png("http://weixin.qq.com/q/abc", 4).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(
            render_svg("http://weixin.qq.com/q/abc")
                .unwrap()
                .contains("<svg")
        );
    }
}
