//! Permission sets (权限集): an authorized account grants its platform
//! some of them (`func_info`), and an API outside them answers 48001 —
//! after a round trip, and in a plugin as an opaque refusal. The APIs whose
//! sets are documented are checked here first, so the call fails at once
//! naming what is missing. An API not listed is left to WeChat: a wrong
//! entry here would refuse a call WeChat allows.

/// The sets any one of which allows `path` (the API pages' "权限集"); `None`:
/// not checked here.
pub fn required(path: &str) -> Option<&'static [u32]> {
    Some(match path {
        // 消息管理 (message management): customer-service messages.
        "/cgi-bin/message/custom/send" | "/cgi-bin/message/custom/typing" => &[1],
        "/cgi-bin/message/template/send" => &[7, 100, 101],
        "/cgi-bin/message/subscribe/bizsend" => &[89],
        "/cgi-bin/media/upload" => &[1, 3, 8, 9, 11, 19, 30, 31, 100],
        "/cgi-bin/tags/members/batchtagging" => &[2, 100],
        "/cgi-bin/material/add_material" => &[11, 100],
        p if p.starts_with("/cgi-bin/message/mass/") => &[7],
        _ => return None,
    })
}

/// The refusal of `path` for an account that granted only `granted`;
/// `None` when it may be called.
pub fn refusal(path: &str, granted: &[u32]) -> Option<String> {
    let need = required(path)?;
    if need.iter().any(|s| granted.contains(s)) {
        return None;
    }
    let sets: Vec<String> = need.iter().map(u32::to_string).collect();
    Some(format!(
        "{path} needs permission set {} of the Open Platform authorization, which this account did not grant its platform (it granted {granted:?}); its owner must authorize again with it",
        sets.join(" or ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_outside_the_granted_sets_is_refused_naming_the_set() {
        assert_eq!(refusal("/cgi-bin/message/custom/send", &[1, 2]), None);
        let e = refusal("/cgi-bin/message/custom/send", &[2, 7]).unwrap();
        assert!(
            e.contains("permission set 1 ") && e.contains("[2, 7]"),
            "{e}"
        );
        let e = refusal("/cgi-bin/message/template/send", &[1]).unwrap();
        assert!(e.contains("permission set 7 or 100 or 101"), "{e}");
        assert_eq!(refusal("/cgi-bin/message/template/send", &[101]), None);
        assert!(refusal("/cgi-bin/message/mass/sendall", &[1]).is_some());
        // Not listed: left to WeChat.
        assert_eq!(refusal("/cgi-bin/menu/create", &[]), None);
    }
}
