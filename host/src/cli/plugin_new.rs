//! `wxhost plugin new NAME --lang rust|js|python [--dir DIR]`: writes a
//! ready plugin project whose plugin answers a text with the same text,
//! with a three-line README (build, try, deploy).
//!
//! The project is self-contained: the SDK of its language and the WIT are
//! written into it from the kit compiled into this binary
//! ([`super::authoring_kit`]), at the version of this wxhost — so it builds
//! anywhere, outside this repository too, and always against the interface
//! the host that wrote it loads. A Rust project gets `wxhost-sdk/` (a path
//! dependency) and this workspace's `Cargo.lock` as its starting lock file,
//! so it resolves the crate versions wxhost was tested with.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::authoring_kit::{self, Lang};
use crate::config::Config;

#[derive(Debug, Clone, clap::Args)]
pub struct PluginNewCommand {
    /// The plugin id (also its `.wasm` file name): 1 to 64 letters, digits,
    /// `_` or `-`.
    pub name: String,
    /// The plugin's language.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The project directory to create (default: ./NAME). It must not exist
    /// or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

impl PluginNewCommand {
    pub fn run(self, _config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        // The same rule as the loader's, so the built file is loadable as is.
        crate::plugin::plugin_id(Path::new(&format!("{}.wasm", self.name)))?;
        let dir = self
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(&self.name));
        if dir.exists()
            && std::fs::read_dir(&dir)
                .with_context(|| format!("{} is not a directory", dir.display()))?
                .next()
                .is_some()
        {
            bail!(
                "{} already exists and is not empty: choose another --dir",
                dir.display()
            );
        }
        let files = project(self.lang, &self.name)?;
        for (rel, text) in &files {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        writeln!(
            out,
            "created {} plugin {} in {} ({} files)",
            self.lang.as_str(),
            self.name,
            dir.display(),
            files.len()
        )?;
        writeln!(out, "{}", readme(&self.name).trim_end())?;
        Ok(())
    }
}

fn readme(name: &str) -> String {
    fill(authoring_kit::file("host/templates/README.md"), name, &[])
}

/// Every file of a new project: (path in the project, text).
pub fn project(lang: Lang, name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = vec![("README.md".to_owned(), readme(name))];
    // The language's own template files, placeholders filled.
    let template = format!("host/templates/{}/", lang.as_str());
    let mut vars = vec![];
    if lang == Lang::Rust {
        let (sdk_version, deps) = rust_sdk_versions()?;
        vars = vec![("sdk_version", sdk_version)];
        vars.extend(deps);
    }
    for (path, text) in authoring_kit::under(&template) {
        let rel = path.strip_suffix(".in").unwrap_or(path);
        let rel = match rel {
            // The vendored SDK's manifest (the SDK's own inherits from this
            // workspace).
            "wxhost-sdk.Cargo.toml" => "wxhost-sdk/Cargo.toml",
            other => other,
        };
        files.push((rel.to_owned(), fill(text, name, &vars)));
    }
    files.push((
        "wit/plugin.wit".to_owned(),
        authoring_kit::file("wit/plugin.wit").to_owned(),
    ));
    let sdk: &[(&str, &str)] = match lang {
        Lang::Rust => &[("sdk-guest/src/", "wxhost-sdk/src/")],
        Lang::Js => &[
            ("sdk-js/src/", "wxhost-sdk/src/"),
            ("sdk-js/types/", "wxhost-sdk/types/"),
        ],
        Lang::Python => &[("sdk-python/wxhost_sdk/", "wxhost_sdk/")],
    };
    for (from, to) in sdk {
        for (path, text) in authoring_kit::under(from) {
            files.push((format!("{to}{path}"), text.to_owned()));
        }
    }
    if lang == Lang::Rust {
        files.push((
            "Cargo.lock".to_owned(),
            authoring_kit::file("Cargo.lock").to_owned(),
        ));
    }
    Ok(files)
}

/// `{{name}}` and `{{<var>}}` replaced.
fn fill(text: &str, name: &str, vars: &[(&str, String)]) -> String {
    let mut s = text.replace("{{name}}", name);
    for (k, v) in vars {
        s = s.replace(&format!("{{{{{k}}}}}"), v);
    }
    s
}

/// The SDK's version and its dependencies' requirements (`wit_bindgen`,
/// `wasip2`), from this workspace's manifest (which the SDK's own inherits
/// them from).
fn rust_sdk_versions() -> anyhow::Result<(String, Vec<(&'static str, String)>)> {
    let manifest: toml::Table = authoring_kit::file("Cargo.toml").parse()?;
    let ws = manifest.get("workspace").and_then(|w| w.as_table());
    let version = ws
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .context("the embedded workspace manifest lacks the SDK's version")?;
    let mut deps = Vec::new();
    for (var, name) in [("wit_bindgen", "wit-bindgen"), ("wasip2", "wasip2")] {
        let req = ws
            .and_then(|w| w.get("dependencies"))
            .and_then(|d| d.get(name))
            .and_then(|v| v.as_str().or_else(|| v.get("version")?.as_str()))
            .with_context(|| format!("the embedded workspace manifest lacks {name}"))?;
        deps.push((var, req.to_owned()));
    }
    Ok((version.to_owned(), deps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_gets_its_sdk_the_wit_and_an_echo_template() {
        for lang in [Lang::Rust, Lang::Js, Lang::Python] {
            let files = project(lang, "hello").unwrap();
            let get = |p: &str| {
                files
                    .iter()
                    .find(|(f, _)| f == p)
                    .map(|(_, t)| t.as_str())
                    .unwrap_or_else(|| panic!("{lang:?}: no {p}"))
            };
            assert!(get("wit/plugin.wit").contains("package wechat:plugin@"));
            assert_eq!(get("README.md").lines().count(), 3, "{lang:?}");
            assert!(get("README.md").contains("hello.wasm"));
            // A placeholder is `{{word}}`; Rust's `{{` escapes in the
            // vendored SDK are not.
            let unfilled = |t: &str| {
                t.match_indices("{{").any(|(i, _)| {
                    let rest = &t[i + 2..];
                    let word = rest
                        .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                        .unwrap_or(rest.len());
                    word > 0 && rest[word..].starts_with("}}")
                })
            };
            assert!(
                files.iter().all(|(_, t)| !unfilled(t)),
                "{lang:?}: unfilled placeholder"
            );
            assert!(unfilled("x {{name}} y") && !unfilled("{{\"appId\":1}}"));
            match lang {
                Lang::Rust => {
                    assert!(get("Cargo.toml").contains("name = \"hello\""));
                    assert!(get("wxhost-sdk/Cargo.toml").contains("wit-bindgen = \"0."));
                    assert!(get("wxhost-sdk/Cargo.toml").contains("wasip2 = \"1."));
                    assert!(get("wxhost-sdk/src/lib.rs").contains("path: \"../wit\""));
                    assert!(get("src/lib.rs").contains("Reply::text(msg.content)"));
                    assert!(get("Cargo.lock").contains("name = \"wit-bindgen\""));
                }
                Lang::Js => {
                    assert!(get("plugin.js").contains("./wxhost-sdk/src/index.js"));
                    assert!(get("wxhost-sdk/src/index.js").contains("definePlugin"));
                    assert!(get("wxhost-sdk/types/wit/plugin.d.ts").contains("wechat:plugin"));
                    assert!(get("package.json").contains("\"name\": \"hello\""));
                }
                Lang::Python => {
                    assert!(get("app.py").contains("class Handler(Plugin)"));
                    assert!(get("wxhost_sdk/__init__.py").contains("Plugin"));
                    assert!(get("pyproject.toml").contains("name = \"hello\""));
                }
            }
        }
    }
}
