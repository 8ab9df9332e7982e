//! Generates the kind table (`Kind::ALL`, `Kind::name`) from the WIT `kind`
//! enum, so `wit/plugin.wit` stays the one list of message kinds: the enum
//! itself comes from wasmtime's bindgen, and a name here that bindgen did
//! not generate fails to compile.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/plugin.wit");
    println!("cargo:rerun-if-changed={}", wit.display());
    let text = std::fs::read_to_string(&wit).expect("read wit/plugin.wit");
    let names = kind_cases(&text).expect("wit/plugin.wit: `enum kind { ... }` not found");

    let mut out = String::new();
    let _ = writeln!(out, "impl Kind {{");
    let _ = writeln!(out, "    /// Every kind, in WIT order.");
    let _ = writeln!(out, "    pub const ALL: [Kind; {}] = [", names.len());
    for n in &names {
        let _ = writeln!(out, "        Kind::{},", camel(n));
    }
    let _ = writeln!(out, "    ];");
    let _ = writeln!(
        out,
        "    /// The WIT name (`event-subscribe`), as `describe` lists it."
    );
    let _ = writeln!(out, "    pub fn name(self) -> &'static str {{");
    let _ = writeln!(out, "        match self {{");
    for n in &names {
        let _ = writeln!(out, "            Kind::{} => \"{n}\",", camel(n));
    }
    let _ = writeln!(out, "        }}\n    }}\n}}");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("kinds.rs");
    std::fs::write(dest, out).expect("write kinds.rs");
}

/// The case names of `enum kind { ... }`, comments removed.
fn kind_cases(wit: &str) -> Option<Vec<String>> {
    let start = wit.find("enum kind {")? + "enum kind {".len();
    let body = &wit[start..start + wit[start..].find('}')?];
    let names = body
        .lines()
        .map(|l| l.split("//").next().unwrap_or("").trim())
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    Some(names)
}

/// `event-pic-photo-or-album` → `EventPicPhotoOrAlbum` (bindgen's rule).
fn camel(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}
