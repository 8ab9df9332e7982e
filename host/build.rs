//! Generates the kind table (`Kind::ALL`, `Kind::name`) from the WIT `kind`
//! enum, so `wit/plugin.wit` stays the one list of message kinds: the enum
//! itself comes from wasmtime's bindgen, and a name here that bindgen did
//! not generate fails to compile.
//!
//! Also embeds the plugin author's kit (`authoring_kit.rs`): every file of
//! the SDKs, the WIT, the project templates and the guest tool set-up
//! scripts, which `wxhost plugin new` writes out and `wxhost plugin build`
//! runs — the same files `make plugins` uses, never a copy.

use std::fmt::Write as _;
use std::path::Path;

/// The package root at *run* time. `env!` would freeze the checkout the
/// build script was compiled in: a target dir shared between checkouts (CI
/// reuses one across clean clones) then read the old checkout's files.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .expect("cargo sets CARGO_MANIFEST_DIR")
        .into()
}

fn main() {
    let wit = manifest_dir().join("../wit/plugin.wit");
    // Relative to the package root, so a moved checkout is a changed one.
    println!("cargo:rerun-if-changed=../wit/plugin.wit");
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
    authoring_kit();
}

/// What the kit holds, relative to the repository root: whole directories
/// (so a new SDK file is in it without a list to update) and single files.
const KIT: &[&str] = &[
    // The workspace manifest (the Rust SDK's versions) and lock file (a new
    // Rust project starts from it).
    "Cargo.toml",
    "Cargo.lock",
    "wit",
    "sdk-guest/src",
    "sdk-js/src",
    "sdk-js/types",
    "sdk-js/package.json",
    "sdk-js/package-lock.json",
    "sdk-python/wxhost_sdk",
    "sdk-python/requirements.txt",
    "scripts/lib-guest.sh",
    "scripts/setup-js.sh",
    "scripts/setup-python.sh",
    "host/templates",
];

/// `pub static KIT: &[(&str, &str)]`: (path from the repository root, text).
fn authoring_kit() {
    let root = manifest_dir().join("..");
    let mut files = Vec::new();
    for entry in KIT {
        let path = root.join(entry);
        println!("cargo:rerun-if-changed=../{entry}");
        collect(&root, &path, &mut files);
    }
    files.sort();
    let mut out =
        String::from("/// The plugin author's kit: (path from the repository root, text).\n");
    out.push_str("pub static KIT: &[(&str, &str)] = &[\n");
    for rel in &files {
        // Resolved when the host compiles, in whichever checkout that is.
        let _ = writeln!(
            out,
            "    ({rel:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../{rel}\"))),"
        );
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("authoring_kit.rs");
    std::fs::write(dest, out).expect("write authoring_kit.rs");
}

fn collect(root: &Path, path: &Path, files: &mut Vec<String>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .expect("kit directory")
            .map(|e| e.expect("kit entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            // Bytecode caches and editor droppings are not part of the kit.
            if name.starts_with('.') && name != ".gitignore"
                || name == "__pycache__"
                || name.ends_with(".pyc")
            {
                continue;
            }
            let rel = p.strip_prefix(root).expect("under the root");
            println!("cargo:rerun-if-changed=../{}", rel.display());
            collect(root, &p, files);
        }
    } else {
        let rel = path.strip_prefix(root).expect("under the root");
        files.push(rel.to_str().expect("UTF-8 path").replace('\\', "/"));
    }
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
