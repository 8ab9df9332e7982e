//! Template and subscription data rules, checked before a job is queued so
//! that a job WeChat would refuse (or silently truncate) fails at once with
//! an error naming the field, instead of after a round trip.
//!
//! Since 2023-05-04 template messages take no colours and no `first` /
//! `remark` lines, and each field is short and on one line
//! (`/work/shared/docs/wechat-outbound-and-open-platform.md` §B.1). The
//! field's type is its name without the trailing digits (`thing3` →
//! `thing`); the caps per type are the subscription notification's
//! documented ones (§B.2), which template keywords follow; a type not in
//! the table gets the general 20-character cap.

use serde_json::Value;

/// Characters (not bytes) a value of each field type may have.
const CAPS: &[(&str, usize)] = &[
    ("thing", 20),
    ("number", 32),
    ("letter", 32),
    ("symbol", 5),
    ("character_string", 32),
    ("time", 32),
    ("date", 32),
    ("amount", 32),
    ("phone_number", 17),
    ("car_number", 8),
    ("name", 20),
    ("phrase", 5),
    ("const", 20),
];
/// The cap of a field whose type the table does not know.
const DEFAULT_CAP: usize = 20;
/// Fields in one message (WeChat's templates have at most a handful).
const MAX_FIELDS: usize = 20;

/// The type part of a field name: `thing12` → `thing`.
fn field_type(name: &str) -> &str {
    name.trim_end_matches(|c: char| c.is_ascii_digit())
}

fn cap(name: &str) -> usize {
    let t = field_type(name);
    CAPS.iter()
        .find(|(k, _)| *k == t)
        .map_or(DEFAULT_CAP, |(_, c)| *c)
}

/// A template message's `data`.
pub fn check_template_data(data: Option<&Value>) -> Result<(), String> {
    check(data, true)
}

/// A subscription notification's `data` (same shape and caps; `first` and
/// `remark` never existed there, so they are refused too).
pub fn check_subscribe_data(data: Option<&Value>) -> Result<(), String> {
    check(data, false)
}

fn check(data: Option<&Value>, template: bool) -> Result<(), String> {
    let Some(data) = data else {
        return Err("data: required ({\"field\": {\"value\": \"…\"}})".into());
    };
    let Value::Object(fields) = data else {
        return Err("data: an object of {\"field\": {\"value\": \"…\"}}".into());
    };
    if fields.is_empty() {
        return Err("data: at least one field".into());
    }
    if fields.len() > MAX_FIELDS {
        return Err(format!("data: at most {MAX_FIELDS} fields"));
    }
    for (name, field) in fields {
        let at = |what: &str| format!("data.{name}: {what}");
        if matches!(name.as_str(), "first" | "remark") {
            return Err(at(
                "WeChat dropped the first and remark lines in 2023; put the text in a keyword field",
            ));
        }
        let Value::Object(parts) = field else {
            return Err(at("an object {\"value\": \"…\"}"));
        };
        if let Some(k) = parts.keys().find(|k| *k != "value") {
            let why = if k == "color" {
                "colours are no longer allowed (WeChat 2023 rules)".to_owned()
            } else {
                format!("unknown key `{k}` (only `value`)")
            };
            return Err(at(&why));
        }
        let Some(value) = parts.get("value").and_then(Value::as_str) else {
            return Err(at("value: a string is required"));
        };
        if value.is_empty() && !template {
            return Err(at("value: must not be empty"));
        }
        if value.contains(['\n', '\r']) {
            return Err(at("value: no line breaks"));
        }
        let chars = value.chars().count();
        let max = cap(name);
        if chars > max {
            return Err(at(&format!(
                "value: {chars} characters, at most {max} for a `{}` field",
                field_type(name)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_wechats_2023_shape() {
        check_template_data(Some(&json!({
            "thing1": {"value": "二十个字以内的商品名称二十个字以内的商品"},
            "character_string2": {"value": "ORDER-2026-000000000000000000001"},
            "amount3": {"value": "¥12.50"},
        })))
        .unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        let e = |v: Value| check_template_data(Some(&v)).unwrap_err();
        assert!(e(json!({"first": {"value": "hi"}})).starts_with("data.first:"));
        assert!(e(json!({"remark": {"value": "hi"}})).starts_with("data.remark:"));
        assert!(e(json!({"thing1": {"value": "x", "color": "#173177"}})).contains("colours"));
        let long = e(json!({"thing2": {"value": "一".repeat(21)}}));
        assert!(
            long.starts_with("data.thing2: value: 21 characters, at most 20"),
            "{long}"
        );
        assert!(e(json!({"keyword1": {"value": "a".repeat(21)}})).starts_with("data.keyword1"));
        assert!(e(json!({"thing1": {"value": "a\nb"}})).contains("line breaks"));
        assert!(e(json!({"thing1": {"value": 5}})).contains("string"));
        assert!(e(json!({"thing1": "plain"})).contains("object"));
        assert!(e(json!({})).contains("at least one"));
        assert!(check_template_data(None).unwrap_err().starts_with("data"));
        assert!(e(json!({"symbol1": {"value": "123456"}})).contains("at most 5"));
    }

    #[test]
    fn subscribe_values_must_not_be_empty() {
        assert!(
            check_subscribe_data(Some(&json!({"thing1": {"value": ""}})))
                .unwrap_err()
                .contains("empty")
        );
        check_subscribe_data(Some(&json!({"thing1": {"value": "ok"}}))).unwrap();
    }
}
