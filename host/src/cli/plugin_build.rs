//! `wxhost plugin build [DIR]`: builds the plugin project in DIR (default:
//! the current directory) into `DIR/NAME.wasm` — cargo for Rust
//! (`Cargo.toml`), componentize-js for JavaScript (`plugin.js`, or
//! `plugin.ts` compiled by tsc first), componentize-py for Python
//! (`app.py`). NAME is the project's name in its manifest (`Cargo.toml`,
//! `package.json`, `pyproject.toml`; else the directory's name), which is
//! also the plugin id. The tools are the pinned ones `make plugins` uses
//! (`guest_tools.rs`); a missing toolchain is named with how to install it.
//!
//! The componentize commands take the same flags as
//! `scripts/build-guest-plugins.sh` (keep them in step). The output is
//! written beside the target and renamed over it, so a server watching DIR
//! never loads a half-written file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};

use super::authoring_kit::{self, Lang};
use super::guest_tools;
use crate::config::Config;

#[derive(Debug, Clone, clap::Args)]
pub struct PluginBuildCommand {
    /// The plugin project (as written by `wxhost plugin new`).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// A project: where, which language, and its plugin id.
#[derive(Debug)]
pub struct Project {
    pub dir: PathBuf,
    pub lang: Lang,
    pub name: String,
}

impl Project {
    /// Recognizes the project in `dir` by its files.
    pub fn open(dir: &Path) -> anyhow::Result<Project> {
        let dir = std::fs::canonicalize(dir)
            .with_context(|| format!("{}: no such project directory", dir.display()))?;
        let has = |f: &str| dir.join(f).is_file();
        let lang = if has("Cargo.toml") {
            Lang::Rust
        } else if has("plugin.js") || has("plugin.ts") {
            Lang::Js
        } else if has("app.py") {
            Lang::Python
        } else {
            bail!(
                "{} is not a plugin project: expected Cargo.toml (Rust), plugin.js or plugin.ts \
                 (JavaScript) or app.py (Python); `wxhost plugin new NAME --lang rust|js|python` \
                 writes one",
                dir.display()
            );
        };
        let name = manifest_name(&dir, lang)?
            .or_else(|| dir.file_name().and_then(|n| n.to_str()).map(str::to_owned));
        let name = name.context("the project has no name")?;
        crate::plugin::plugin_id(Path::new(&format!("{name}.wasm")))
            .context("the project's name is not a valid plugin id")?;
        Ok(Project { dir, lang, name })
    }

    pub fn output(&self) -> PathBuf {
        self.dir.join(format!("{}.wasm", self.name))
    }
}

/// The name in the language's own manifest, if it has one.
fn manifest_name(dir: &Path, lang: Lang) -> anyhow::Result<Option<String>> {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    Ok(match lang {
        Lang::Rust => {
            let text = read("Cargo.toml").context("reading Cargo.toml")?;
            let t: toml::Table = text.parse().context("Cargo.toml")?;
            t.get("package")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                .map(str::to_owned)
        }
        Lang::Js => match read("package.json") {
            Some(text) => serde_json::from_str::<serde_json::Value>(&text)
                .context("package.json")?
                .get("name")
                .and_then(|n| n.as_str())
                .map(str::to_owned),
            None => None,
        },
        Lang::Python => match read("pyproject.toml") {
            Some(text) => text
                .parse::<toml::Table>()
                .context("pyproject.toml")?
                .get("project")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                .map(str::to_owned),
            None => None,
        },
    })
}

impl PluginBuildCommand {
    pub fn run(self, _config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        let project = Project::open(&self.dir)?;
        let started = Instant::now();
        let output = project.output();
        let tmp = project.dir.join(format!(".{}.wasm.tmp", project.name));
        let _ = std::fs::remove_file(&tmp);
        let built = match project.lang {
            Lang::Rust => build_rust(&project, &tmp),
            Lang::Js => build_js(&project, &tmp),
            Lang::Python => build_python(&project, &tmp),
        };
        if let Err(e) = built {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, &output)
            .with_context(|| format!("moving the build to {}", output.display()))?;
        let size = std::fs::metadata(&output)?.len();
        writeln!(
            out,
            "built {} ({} plugin, {:.1} MB, in {:.1} s)",
            output.display(),
            project.lang.as_str(),
            size as f64 / 1e6,
            started.elapsed().as_secs_f64()
        )?;
        writeln!(
            out,
            "try it: wxhost plugin run {} --text hello",
            output.display()
        )?;
        Ok(())
    }
}

/// Runs `cmd`, its output shown to the user; fails naming `what`.
fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The project's WIT (`wit/`), else this binary's (written to `scratch`).
fn wit_dir(project: &Project, scratch: &Path) -> anyhow::Result<PathBuf> {
    let own = project.dir.join("wit");
    if own.is_dir() {
        return Ok(own);
    }
    authoring_kit::write_to(scratch, &["wit/"])?;
    Ok(scratch.join("wit"))
}

fn build_rust(project: &Project, tmp: &Path) -> anyhow::Result<()> {
    guest_tools::check_rust()?;
    // The artifact's path comes from cargo's own report, so any target
    // directory (CARGO_TARGET_DIR, a workspace's) works.
    let child = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(project.dir.join("Cargo.toml"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo")?;
    if !child.status.success() {
        bail!("cargo build failed ({})", child.status);
    }
    let lib_name = project.name.replace('-', "_");
    let artifact = String::from_utf8_lossy(&child.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == lib_name.as_str())
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.as_str().map(PathBuf::from))
        })
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
        .with_context(|| {
            format!("cargo built no {lib_name}.wasm: is the crate a cdylib (`[lib] crate-type = [\"cdylib\"]`)?")
        })?;
    std::fs::copy(&artifact, tmp).with_context(|| format!("copying {}", artifact.display()))?;
    Ok(())
}

fn build_js(project: &Project, tmp: &Path) -> anyhow::Result<()> {
    let tools = guest_tools::js_tools()?;
    let bin = tools.join("node_modules/.bin");
    let scratch = tempfile::tempdir()?;
    let wit = wit_dir(project, scratch.path())?;
    // componentize-js maps its working directory to `/` for the engine, so
    // it runs from the directory the plugin's imports are relative to.
    let root = if project.dir.join("plugin.ts").is_file() {
        // TypeScript: emitted into a staging copy with the same layout (the
        // relative import of the SDK still resolves there).
        let stage = scratch.path().join("stage");
        copy_tree(&project.dir, &stage, &|p| is_build_output(p))?;
        run(
            Command::new(bin.join("tsc"))
                .args([
                    "--target",
                    "es2022",
                    "--module",
                    "es2022",
                    "--moduleResolution",
                    "bundler",
                    "--types",
                    "",
                    "--noCheck",
                    "--outDir",
                ])
                .arg(&stage)
                .arg(stage.join("plugin.ts"))
                .current_dir(&stage),
            "tsc",
        )?;
        stage
    } else {
        project.dir.clone()
    };
    // -d http fetch-event: no wasi:http import (the plugin world has none,
    // and the host does not link it).
    run(
        Command::new(bin.join("componentize-js"))
            .arg("plugin.js")
            .arg("--wit")
            .arg(&wit)
            .args(["--world-name", "plugin", "-d", "http", "fetch-event", "-o"])
            .arg(tmp)
            .current_dir(&root),
        "componentize-js",
    )
}

fn build_python(project: &Project, tmp: &Path) -> anyhow::Result<()> {
    let venv = guest_tools::python_venv()?;
    let scratch = tempfile::tempdir()?;
    let wit = wit_dir(project, scratch.path())?;
    // From a copy: componentize-py writes __pycache__ into the directories
    // it imports from. Only that copy is on the path (VIRTUAL_ENV points the
    // tool at its own venv, not at whatever the user's python has).
    let stage = scratch.path().join("stage");
    copy_tree(&project.dir, &stage, &|p| {
        is_build_output(p) || p.file_name().is_some_and(|n| n == "wit")
    })?;
    run(
        Command::new(venv.join("bin/componentize-py"))
            .env("VIRTUAL_ENV", &venv)
            .arg("-q")
            .arg("-d")
            .arg(&wit)
            .args(["-w", "plugin", "componentize", "-p"])
            .arg(&stage)
            .arg("app")
            .arg("-o")
            .arg(tmp),
        "componentize-py",
    )
}

/// Built components, caches and hidden files: never part of a staging copy.
fn is_build_output(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with('.')
        || name == "__pycache__"
        || name == "node_modules"
        || name == "target"
        || name.ends_with(".wasm")
}

fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        if skip(&path) {
            continue;
        }
        let dest = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_tree(&path, &dest, skip)?;
        } else {
            std::fs::copy(&path, &dest).with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}
