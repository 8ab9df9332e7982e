//! wxhost's own cookies on the public origin, which plugin pages share:
//! the web session, the OAuth logins in progress — and, on the console's
//! host name (cookies ignore ports), the console's. Every name starting
//! `wxhost` is the host's, however it is spelt.
//!
//! - Names: on an https origin a cookie for `Path=/` is `__Host-<name>`
//!   (the browser then refuses it from a sibling subdomain, over http, or
//!   with a `Domain`), one for a narrower path `__Secure-<name>`; on http
//!   (local trials) the bare name.
//! - Values are `<mac>.<value>`: HMAC-SHA256 over the cookie's purpose
//!   (its base name) and its value, keyed by the session secret, so a value
//!   issued for one purpose (a login in progress) is worthless as another
//!   (a session).
//! - Reading ([`HostCookies::get`]): names are compared percent-decoded
//!   and case-folded, as browsers and cookie parsers differ on both; more
//!   than one candidate is no value at all (a second, planted copy must not
//!   choose which one counts).
//! - Plugins: [`foreign_cookies`] gives a page's request every cookie but
//!   the host's; [`plugin_may_set`] lets a page's `Set-Cookie` through only
//!   with a name, visible ASCII only, and a name that is not the host's.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Every cookie whose (decoded, case-folded, unprefixed) name starts so is
/// the host's.
pub const HOST_PREFIX: &str = "wxhost";

type HmacSha256 = Hmac<Sha256>;

/// Signs, names and reads the host's cookies.
pub struct HostCookies {
    key: [u8; 32],
    secure: bool,
}

/// A cookie name as compared: percent-decoded, ASCII-lowercased.
fn folded(name: &str) -> String {
    percent_decode(name).to_ascii_lowercase()
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a cookie named `name` (as sent or set) is one of the host's:
/// decoded, case-folded and without a `__Host-`/`__Secure-` prefix, it
/// starts with [`HOST_PREFIX`]. An empty name counts as the host's: a
/// browser sends a nameless cookie as its bare value, which may read as
/// `wxhost_session=…`.
pub fn is_host_name(name: &str) -> bool {
    let name = folded(name.trim());
    let bare = name
        .strip_prefix("__host-")
        .or_else(|| name.strip_prefix("__secure-"))
        .unwrap_or(&name);
    bare.is_empty() || bare.starts_with(HOST_PREFIX)
}

/// The `(name, value)` pairs of the request's `Cookie` headers, as sent.
/// A pair without `=` has an empty name.
fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|text| text.split(';'))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (n.trim(), v.trim()),
            None => ("", p),
        })
}

/// The request's cookies other than the host's, as one `Cookie` header
/// for a plugin page.
pub fn foreign_cookies(headers: &HeaderMap) -> Option<HeaderValue> {
    let kept: Vec<String> = pairs(headers)
        .filter(|(n, _)| !is_host_name(n))
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join("; ")).ok()
}

/// Whether a plugin page may send this `Set-Cookie`: visible ASCII only
/// (attributes included: a byte a parser reads differently is a way
/// around the name check), a name, and not one of the host's.
pub fn plugin_may_set(set_cookie: &HeaderValue) -> bool {
    let bytes = set_cookie.as_bytes();
    if bytes.iter().any(|&b| !(b == b' ' || b.is_ascii_graphic())) {
        return false;
    }
    let Ok(text) = set_cookie.to_str() else {
        return false;
    };
    let first = text.split(';').next().unwrap_or("");
    let Some((name, _)) = first.split_once('=') else {
        return false;
    };
    let name = name.trim();
    !name.is_empty() && !is_host_name(name)
}

impl HostCookies {
    /// `signing_key`: 32 bytes derived from the session secret; `secure`:
    /// the public origin is https.
    pub fn new(signing_key: &[u8], secure: bool) -> HostCookies {
        let mut key = [0u8; 32];
        let n = signing_key.len().min(32);
        key[..n].copy_from_slice(&signing_key[..n]);
        HostCookies { key, secure }
    }

    /// The name `base` has on the wire for a cookie on `path`.
    pub fn wire_name(&self, base: &str, path: &str) -> String {
        match (self.secure, path) {
            (false, _) => base.to_owned(),
            (true, "/") => format!("__Host-{base}"),
            (true, _) => format!("__Secure-{base}"),
        }
    }

    fn mac(&self, purpose: &str, value: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"wxhost cookie\0");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        mac
    }

    /// `value` (cookie-safe characters: hex, base64url) signed for `base`.
    pub fn sign(&self, base: &str, value: &str) -> String {
        let tag = self.mac(base, value).finalize().into_bytes();
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag);
        format!("{tag}.{value}")
    }

    /// The value of a signed cookie, if it verifies as one for `base`.
    pub fn verify(&self, base: &str, signed: &str) -> Option<String> {
        let (tag, value) = signed.split_once('.')?;
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(tag)
            .ok()?;
        self.mac(base, value).verify_slice(&tag).ok()?;
        Some(value.to_owned())
    }

    /// The `Set-Cookie` for `base` = `value` (signed) on `path`.
    pub fn set(&self, base: &str, value: &str, path: &str, max_age: Duration) -> HeaderValue {
        self.header(
            &self.wire_name(base, path),
            &self.sign(base, value),
            path,
            max_age,
        )
    }

    /// The `Set-Cookie` that deletes `base` on `path`.
    pub fn removal(&self, base: &str, path: &str) -> HeaderValue {
        self.header(&self.wire_name(base, path), "", path, Duration::ZERO)
    }

    fn header(&self, name: &str, value: &str, path: &str, max_age: Duration) -> HeaderValue {
        let cookie = cookie::Cookie::build((name.to_owned(), value.to_owned()))
            .path(path.to_owned())
            .http_only(true)
            .same_site(cookie::SameSite::Lax)
            .secure(self.secure)
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
            ))
            .build();
        HeaderValue::from_str(&cookie.to_string()).expect("host cookies are ASCII")
    }

    /// The verified value of the host cookie `base` (on `path`): see
    /// [`single`].
    pub fn get(&self, headers: &HeaderMap, base: &str, path: &str) -> Option<String> {
        let value = single(headers, &self.wire_name(base, path))?;
        self.verify(base, value)
    }
}

/// The value of the cookie `name`, if the request carries exactly one
/// cookie whose decoded, case-folded name is `name`'s, spelt exactly so.
/// Two candidates are none: a planted copy must not choose which counts.
pub fn single<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let want = name.to_ascii_lowercase();
    let mut found = None;
    for (n, value) in pairs(headers) {
        if folded(n) != want {
            continue;
        }
        if found.is_some() {
            tracing::info!(cookie = %name, "two copies of a host cookie: ignoring both");
            return None;
        }
        found = Some((n, value));
    }
    let (n, value) = found?;
    (n == name).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(header: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(header).unwrap());
        h
    }

    fn jar(secure: bool) -> HostCookies {
        HostCookies::new(&[7u8; 32], secure)
    }

    #[test]
    fn a_signed_value_reads_back_only_for_its_own_purpose() {
        let j = jar(false);
        let signed = j.sign("wxhost_session", "abc");
        assert_eq!(j.verify("wxhost_session", &signed).as_deref(), Some("abc"));
        assert_eq!(j.verify("wxhost_login_x", &signed), None);
        assert_eq!(
            HostCookies::new(&[8u8; 32], false).verify("wxhost_session", &signed),
            None
        );
        let h = cookies(&format!("wxhost_session={signed}; other=1"));
        assert_eq!(j.get(&h, "wxhost_session", "/").as_deref(), Some("abc"));
    }

    #[test]
    fn a_second_copy_in_any_spelling_means_no_value() {
        let j = jar(false);
        let good = j.sign("wxhost_session", "victim");
        let planted = j.sign("wxhost_session", "attacker");
        for second in [
            format!("wxhost%5Fsession={planted}"),
            format!("WXHOST_SESSION={planted}"),
            format!("wxhost_session={planted}"),
            format!("wxhost%5fsession={planted}"),
        ] {
            let h = cookies(&format!("{second}; wxhost_session={good}"));
            assert_eq!(j.get(&h, "wxhost_session", "/"), None, "{second}");
            let h = cookies(&format!("wxhost_session={good}; {second}"));
            assert_eq!(j.get(&h, "wxhost_session", "/"), None, "{second}");
        }
        // Alone, a copy spelt differently is not the cookie either.
        let h = cookies(&format!("wxhost%5Fsession={planted}"));
        assert_eq!(j.get(&h, "wxhost_session", "/"), None);
    }

    #[test]
    fn https_names_are_prefixed() {
        let j = jar(true);
        assert_eq!(j.wire_name("wxhost_session", "/"), "__Host-wxhost_session");
        assert_eq!(
            j.wire_name("wxhost_login_a", "/oauth"),
            "__Secure-wxhost_login_a"
        );
        let set = j.set("wxhost_session", "v", "/", Duration::from_secs(60));
        let text = set.to_str().unwrap();
        assert!(text.starts_with("__Host-wxhost_session="), "{text}");
        for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=60"] {
            assert!(text.contains(attr), "{attr} in {text}");
        }
        // The bare name (tossed from a sibling, or set over http) is not it.
        let bare = cookies(&format!("wxhost_session={}", j.sign("wxhost_session", "v")));
        assert_eq!(j.get(&bare, "wxhost_session", "/"), None);
    }

    #[test]
    fn plugins_never_see_or_set_a_host_cookie_however_spelt() {
        let h = cookies(
            "theirs=1; wxhost_session=a; wxhost%5Fsession=b; WXHOST_admin=c; __Host-wxhost_session=d; wxhost_other=e; bare; =x; also=2",
        );
        assert_eq!(foreign_cookies(&h).unwrap(), "theirs=1; also=2");
        let refused = [
            "wxhost_session=x; Path=/",
            "wxhost%5Fsession=x; Path=/",
            "WxHost_Session=x",
            "__Host-wxhost_session=x; Path=/; Secure",
            "__Secure-wxhost_login_1=x",
            "=wxhost_session=x",
            "wxhost_session",
            "  =x",
        ];
        for c in refused {
            assert!(!plugin_may_set(&HeaderValue::from_str(c).unwrap()), "{c}");
        }
        let non_ascii = HeaderValue::from_bytes(b"theirs=1; Path=/\xe9").unwrap();
        assert!(!plugin_may_set(&non_ascii));
        let name_non_ascii = HeaderValue::from_bytes(b"\xe9wxhost_session=1").unwrap();
        assert!(!plugin_may_set(&name_non_ascii));
        assert!(plugin_may_set(&HeaderValue::from_static(
            "theirs=1; Path=/app/x/; HttpOnly"
        )));
    }
}
