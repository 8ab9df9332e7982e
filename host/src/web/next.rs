//! Where a login returns to: `next` must be a path on this server, or the
//! login is an open redirect (`/oauth/login?next=https://evil`). Anything
//! that a browser could read as another origin becomes `/`.

/// Longest `next` kept.
pub const MAX_NEXT_BYTES: usize = 2048;

/// `next` if it is a relative path on this server, else `/`. Refused:
/// anything not starting with a single `/` (`https://…`, `//evil`),
/// backslashes (browsers read `/\evil` as `//evil`), whitespace and control
/// characters (browsers drop tabs and newlines, so `/\t/evil` is `//evil`).
/// Non-ASCII is kept, percent-encoded, so it fits a `Location` header.
pub fn safe_next(next: Option<&str>) -> String {
    let Some(next) = next else {
        return "/".to_owned();
    };
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= MAX_NEXT_BYTES
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || c.is_control());
    if !ok {
        return "/".to_owned();
    }
    let mut out = String::with_capacity(next.len());
    for b in next.bytes() {
        if b.is_ascii() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // Measured as it is sent: encoding can triple non-ASCII.
    if out.len() > MAX_NEXT_BYTES {
        return "/".to_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{MAX_NEXT_BYTES, safe_next};

    #[test]
    fn only_paths_on_this_server_are_kept() {
        for ok in [
            "/",
            "/app/member/",
            "/app/member/?tab=points&x=%2F",
            "/a#frag",
        ] {
            assert_eq!(safe_next(Some(ok)), ok);
        }
        assert_eq!(safe_next(Some("/会员")), "/%E4%BC%9A%E5%91%98");
        // The limit holds after encoding.
        let long = format!("/{}", "会".repeat(MAX_NEXT_BYTES / 4));
        assert!(long.len() <= MAX_NEXT_BYTES);
        assert_eq!(safe_next(Some(&long)), "/");
        for bad in [
            "//evil.com",
            "///evil.com",
            "https://evil.com/",
            "http:/evil.com",
            "javascript:alert(1)",
            "/\\evil.com",
            "\\\\evil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            " /x",
            "evil.com",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(3000)))), "/");
    }
}
