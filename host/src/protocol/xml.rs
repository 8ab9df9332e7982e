//! The XML layer: a bounded quick-xml reader into a small element tree, and
//! the writer helpers for replies (CDATA that survives `]]>`).
//!
//! WeChat's XML is tiny and flat, so the reader is deliberately strict about
//! resources and lenient about content: it refuses any `<!DOCTYPE` (no DTD, no
//! entity declarations, so no XXE or billion laughs), resolves only the five
//! predefined entities and character references, caps size, depth, element
//! count, element-name length and the bytes [`Element::leaf_fields`] will
//! produce (paths repeat their ancestors' names, so without that cap a 1 MiB
//! body of long nested names could expand to gigabytes of fields), ignores
//! attributes, comments and processing instructions, and keeps text exactly
//! (CDATA sections and text runs are concatenated; line endings and control
//! characters are not touched).

use quick_xml::Reader;
use quick_xml::events::Event as XmlEvent;

use super::ProtocolError;

/// Resource limits for one document.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_elements: usize,
    /// Longest element name (WeChat's are under 32 bytes).
    pub max_name_bytes: usize,
    /// Most bytes of [`Element::leaf_fields`] (paths and values together).
    pub max_field_bytes: usize,
}

impl Limits {
    /// 1 MiB, depth 16, 4096 elements, names of 256 bytes, 2 MiB of fields:
    /// generous for any WeChat push.
    pub const DEFAULT: Limits = Limits::with_max_bytes(1 << 20);

    /// The default limits for documents of at most `max_bytes`. Fields may
    /// take twice the document: a real push's fields are smaller than its XML
    /// (each name once instead of in two tags), so only documents built to
    /// amplify reach the cap.
    pub const fn with_max_bytes(max_bytes: usize) -> Limits {
        Limits {
            max_bytes,
            max_depth: 16,
            max_elements: 4096,
            max_name_bytes: 256,
            max_field_bytes: max_bytes.saturating_mul(2),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One element: its name, its own text (not its children's) and its children.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child with this exact name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this exact name, in order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child with this name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The text at a path of child names (`["ScanCodeInfo", "ScanType"]`).
    pub fn path_text(&self, path: &[&str]) -> Option<&str> {
        let mut e = self;
        for name in path {
            e = e.child(name)?;
        }
        Some(e.text.as_str())
    }

    /// Every leaf element below this one, in document order, named by its
    /// path from here joined with `.` (`SendPicsInfo.PicList.item.PicMd5Sum`).
    pub fn leaf_fields(&self) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(self.children.len());
        for c in &self.children {
            c.collect_leaves("", &mut out);
        }
        out
    }

    fn collect_leaves(&self, prefix: &str, out: &mut Vec<(String, String)>) {
        if self.children.is_empty() {
            let name = if prefix.is_empty() {
                self.name.clone()
            } else {
                format!("{prefix}.{}", self.name)
            };
            out.push((name, self.text.clone()));
        } else {
            let path = if prefix.is_empty() {
                self.name.clone()
            } else {
                format!("{prefix}.{}", self.name)
            };
            for c in &self.children {
                c.collect_leaves(&path, out);
            }
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::MalformedXml(e.to_string())
}

/// Parses a document into its root element, within `limits`.
pub fn parse_document(xml: &str, limits: Limits) -> Result<Element, ProtocolError> {
    if xml.len() > limits.max_bytes {
        return Err(ProtocolError::TooLarge);
    }
    let mut reader = Reader::from_str(xml);
    {
        let cfg = reader.config_mut();
        cfg.trim_text(false);
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        cfg.check_comments = false;
    }
    let mut stack: Vec<Element> = Vec::with_capacity(4);
    let mut elements = 0usize;
    let mut fields = FieldBudget {
        used: 0,
        max: limits.max_field_bytes,
    };

    // Opens a new element (on Start or Empty); fails past the limits.
    let open = |stack: &mut Vec<Element>,
                elements: &mut usize,
                name: &[u8]|
     -> Result<(), ProtocolError> {
        *elements += 1;
        if *elements > limits.max_elements {
            return Err(ProtocolError::TooLarge);
        }
        if stack.len() >= limits.max_depth {
            return Err(ProtocolError::TooDeep);
        }
        if name.len() > limits.max_name_bytes {
            return Err(ProtocolError::NameTooLong);
        }
        let name = std::str::from_utf8(name).map_err(malformed)?;
        stack.push(Element {
            name: name.to_owned(),
            ..Element::default()
        });
        Ok(())
    };

    loop {
        let ev = reader.read_event().map_err(malformed)?;
        match ev {
            XmlEvent::Start(e) => {
                open(&mut stack, &mut elements, e.name().as_ref())?;
            }
            XmlEvent::Empty(e) => {
                open(&mut stack, &mut elements, e.name().as_ref())?;
                if let Some(done) = close(&mut stack, &mut fields)? {
                    return Ok(done);
                }
            }
            XmlEvent::End(_) => {
                // quick-xml has already checked that the name matches.
                if stack.is_empty() {
                    return Err(malformed("unexpected end tag"));
                }
                if let Some(done) = close(&mut stack, &mut fields)? {
                    return Ok(done);
                }
            }
            XmlEvent::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.decode().map_err(malformed)?);
                } else if !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(malformed("text outside the root element"));
                }
            }
            XmlEvent::CData(t) => {
                let top = stack
                    .last_mut()
                    .ok_or_else(|| malformed("CDATA outside the root element"))?;
                top.text.push_str(&t.decode().map_err(malformed)?);
            }
            XmlEvent::GeneralRef(r) => {
                let top = stack
                    .last_mut()
                    .ok_or_else(|| malformed("reference outside the root element"))?;
                if r.is_char_ref() {
                    match r.resolve_char_ref().map_err(malformed)? {
                        Some(c) => top.text.push(c),
                        None => return Err(malformed("bad character reference")),
                    }
                } else {
                    let c = match &*r {
                        b"lt" => '<',
                        b"gt" => '>',
                        b"amp" => '&',
                        b"apos" => '\'',
                        b"quot" => '"',
                        // No DTD is ever read, so any other entity is undefined.
                        _ => return Err(malformed("undefined entity")),
                    };
                    top.text.push(c);
                }
            }
            XmlEvent::DocType(_) => return Err(ProtocolError::Doctype),
            XmlEvent::Comment(_) | XmlEvent::Decl(_) | XmlEvent::PI(_) => {}
            XmlEvent::Eof => {
                return Err(malformed(if stack.is_empty() {
                    "no root element"
                } else {
                    "unexpected end of document"
                }));
            }
        }
    }
}

/// The bytes [`Element::leaf_fields`] will produce, counted as leaves close.
struct FieldBudget {
    used: usize,
    max: usize,
}

/// Pops the innermost element into its parent; returns the root when it
/// closes. A closing leaf below the root is charged its field: its path
/// (the names below the root, joined with `.`) and its text.
fn close(
    stack: &mut Vec<Element>,
    fields: &mut FieldBudget,
) -> Result<Option<Element>, ProtocolError> {
    let Some(done) = stack.pop() else {
        return Ok(None);
    };
    if stack.is_empty() {
        return Ok(Some(done));
    }
    if done.children.is_empty() {
        let ancestors: usize = stack[1..].iter().map(|e| e.name.len() + 1).sum();
        fields.used += ancestors + done.name.len() + done.text.len();
        if fields.used > fields.max {
            return Err(ProtocolError::FieldsTooLarge);
        }
    }
    if let Some(parent) = stack.last_mut() {
        parent.children.push(done);
    }
    Ok(None)
}

/// `true` for characters XML 1.0 can carry (in CDATA or escaped).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Appends `<![CDATA[text]]>`, splitting every `]]>` across two sections so the
/// content survives exactly, and dropping characters XML 1.0 cannot carry
/// (a single one would make WeChat reject the whole reply).
pub fn push_cdata(out: &mut String, text: &str) {
    out.push_str("<![CDATA[");
    let clean = text.chars().all(is_xml_char);
    let mut rest = text;
    loop {
        match rest.find("]]>") {
            Some(i) => {
                // `]]` ends this section; `>` starts the next one.
                push_chars(out, &rest[..i + 2], clean);
                out.push_str("]]><![CDATA[");
                rest = &rest[i + 2..];
            }
            None => {
                push_chars(out, rest, clean);
                break;
            }
        }
    }
    out.push_str("]]>");
}

fn push_chars(out: &mut String, s: &str, clean: bool) {
    if clean {
        out.push_str(s);
    } else {
        out.extend(s.chars().filter(|&c| is_xml_char(c)));
    }
}

/// Appends `<Name><![CDATA[text]]></Name>`.
pub fn push_cdata_element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_cdata(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Appends `<Name>number</Name>`.
pub fn push_number_element(out: &mut String, name: &str, n: u64) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(out, "<{name}>{n}</{name}>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Element, ProtocolError> {
        parse_document(s, Limits::DEFAULT)
    }

    #[test]
    fn tree_and_fields() {
        let e = parse(
            "<?xml version=\"1.0\"?><xml><A><![CDATA[x]]><![CDATA[y]]></A>\n<B>1 &amp; 2 &#x4e2d;&#25991;</B><C/>\
             <D><E>e1</E><F><G>g</G></F><E>e2</E></D><!-- c --></xml>",
        )
        .unwrap();
        assert_eq!(e.name, "xml");
        assert_eq!(e.child_text("A"), Some("xy"));
        assert_eq!(e.child_text("B"), Some("1 & 2 中文"));
        assert_eq!(e.path_text(&["D", "F", "G"]), Some("g"));
        assert_eq!(
            e.leaf_fields(),
            vec![
                ("A".into(), "xy".into()),
                ("B".into(), "1 & 2 中文".into()),
                ("C".into(), "".into()),
                ("D.E".into(), "e1".into()),
                ("D.F.G".into(), "g".into()),
                ("D.E".into(), "e2".into()),
            ]
        );
    }

    #[test]
    fn refuses_doctype_and_entities() {
        let bomb = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]><xml><A>&lol2;</A></xml>";
        assert_eq!(parse(bomb), Err(ProtocolError::Doctype));
        let xxe = "<!doctype foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><xml>&xxe;</xml>";
        assert_eq!(parse(xxe), Err(ProtocolError::Doctype));
        assert!(matches!(
            parse("<xml><A>&xxe;</A></xml>"),
            Err(ProtocolError::MalformedXml(_))
        ));
        // Inside CDATA it is just text.
        assert_eq!(
            parse("<xml><A><![CDATA[<!DOCTYPE html>]]></A></xml>")
                .unwrap()
                .child_text("A"),
            Some("<!DOCTYPE html>")
        );
    }

    #[test]
    fn limits() {
        let deep = format!("{}{}", "<a>".repeat(17), "</a>".repeat(17));
        assert_eq!(parse(&deep), Err(ProtocolError::TooDeep));
        let ok = format!("{}{}", "<a>".repeat(16), "</a>".repeat(16));
        assert!(parse(&ok).is_ok());
        let wide = format!("<xml>{}</xml>", "<a/>".repeat(5000));
        assert_eq!(parse(&wide), Err(ProtocolError::TooLarge));
        assert_eq!(
            parse_document("<xml/>", Limits::with_max_bytes(5)),
            Err(ProtocolError::TooLarge)
        );
    }

    /// Bytes of `leaf_fields`, as they would sit in a `Message`.
    fn field_bytes(e: &Element) -> usize {
        e.leaf_fields().iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    #[test]
    fn long_element_names_are_refused() {
        let name = "N".repeat(Limits::DEFAULT.max_name_bytes + 1);
        let doc = format!("<xml><{name}>x</{name}></xml>");
        assert_eq!(parse(&doc), Err(ProtocolError::NameTooLong));
        let name = "N".repeat(Limits::DEFAULT.max_name_bytes);
        let doc = format!("<xml><{name}>x</{name}></xml>");
        assert_eq!(parse(&doc).unwrap().leaf_fields()[0].0, name);
    }

    #[test]
    fn nesting_built_to_amplify_fields_is_refused_and_fields_stay_bounded() {
        // The hostile shape: the longest allowed names, nested as deep as
        // allowed, with as many empty leaves as allowed below them. Every
        // leaf's path repeats all of its ancestors' names.
        let limits = Limits::DEFAULT;
        let name = "N".repeat(limits.max_name_bytes);
        let depth = limits.max_depth - 2;
        let leaves = limits.max_elements - depth - 1;
        let doc = format!(
            "<xml>{}{}{}</xml>",
            format!("<{name}>").repeat(depth),
            "<a/>".repeat(leaves),
            format!("</{name}>").repeat(depth),
        );
        assert!(doc.len() < limits.max_bytes);
        // Unchecked, its fields would be ~15 MB from a ~30 KB body.
        let unchecked = leaves * depth * (name.len() + 1);
        assert!(unchecked > 5 * limits.max_field_bytes, "{unchecked}");
        assert_eq!(parse(&doc), Err(ProtocolError::FieldsTooLarge));

        // Whatever fits is within the cap: amplify as much as the limits allow.
        for leaves in [1, 100, 500, 4000] {
            let doc = format!(
                "<xml>{}{}{}</xml>",
                format!("<{name}>").repeat(depth),
                "<a>value</a>".repeat(leaves),
                format!("</{name}>").repeat(depth),
            );
            match parse(&doc) {
                Ok(e) => assert!(field_bytes(&e) <= limits.max_field_bytes, "{leaves}"),
                Err(e) => assert_eq!(e, ProtocolError::FieldsTooLarge, "{leaves}"),
            }
        }
        // A small body limit caps fields in proportion.
        let small = Limits::with_max_bytes(8 << 10);
        let doc = format!(
            "<xml>{}{}{}</xml>",
            format!("<{name}>").repeat(4),
            "<a/>".repeat(20),
            format!("</{name}>").repeat(4),
        );
        assert!(doc.len() < small.max_bytes);
        assert_eq!(
            parse_document(&doc, small),
            Err(ProtocolError::FieldsTooLarge)
        );
    }

    #[test]
    fn a_real_pushs_fields_are_smaller_than_its_xml() {
        let push = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_1]]></FromUserName>\
            <CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[pic_weixin]]></Event>\
            <EventKey><![CDATA[k]]></EventKey><SendPicsInfo><Count>2</Count><PicList>\
            <item><PicMd5Sum><![CDATA[a]]></PicMd5Sum></item><item><PicMd5Sum><![CDATA[b]]></PicMd5Sum></item>\
            </PicList></SendPicsInfo></xml>";
        let e = parse_document(push, Limits::with_max_bytes(push.len())).unwrap();
        assert!(field_bytes(&e) <= push.len());
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "   ",
            "<xml>",
            "<xml></yml>",
            "</xml>",
            "text",
            "<xml><a></xml>",
            "<xml>&amp</xml>",
            "<xml>&#0;</xml>",
        ] {
            assert!(
                matches!(parse(bad), Err(ProtocolError::MalformedXml(_))),
                "{bad:?} -> {:?}",
                parse(bad)
            );
        }
    }

    #[test]
    fn cdata_split() {
        let mut s = String::new();
        push_cdata(&mut s, "a]]>b]]>]]>c\u{1}d");
        assert_eq!(
            s,
            "<![CDATA[a]]]]><![CDATA[>b]]]]><![CDATA[>]]]]><![CDATA[>cd]]>"
        );
        let doc = format!("<xml><A>{s}</A></xml>");
        assert_eq!(parse(&doc).unwrap().child_text("A"), Some("a]]>b]]>]]>cd"));
    }
}
