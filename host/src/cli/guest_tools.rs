//! The toolchains `wxhost plugin build` runs, found or installed the way
//! `make plugins` does: the JavaScript tools (componentize-js, pinned by
//! `sdk-js/package-lock.json`) and the Python venv (componentize-py, pinned
//! with hashes by `sdk-python/requirements.txt`) are set up by the
//! repository's own `scripts/setup-js.sh` / `scripts/setup-python.sh`, run
//! from the kit compiled into this binary, so both share one install in
//! `$WXHOST_CACHE` (`~/.cache/wxhost`). What those scripts cannot install
//! without asking — the system's Node.js, npm, Python or Rust target — is
//! checked first, and a missing one is named with the command that installs
//! it (the scripts themselves would run `apt-get`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

use super::authoring_kit;

/// `name` on `PATH`, if there.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The pinned JavaScript tools' directory (its `node_modules/.bin` holds
/// componentize-js and tsc), installed on first use.
pub fn js_tools() -> anyhow::Result<PathBuf> {
    let missing: Vec<&str> = ["node", "npm"]
        .into_iter()
        .filter(|p| find_program(p).is_none())
        .collect();
    if !missing.is_empty() {
        bail!(
            "building a JavaScript plugin needs Node.js ^20.19 or >=22.12 and npm ({} not found). \
             Install them — on Debian or Ubuntu: `apt-get install nodejs npm` (Debian 13 and \
             Ubuntu 24.04 have Node 20.19+) — then run `wxhost plugin build` again",
            missing.join(", ")
        );
    }
    run_setup(
        "setup-js.sh",
        &["sdk-js/package.json", "sdk-js/package-lock.json"],
        "the JavaScript tools",
    )
}

/// The venv with the pinned componentize-py, created on first use.
pub fn python_venv() -> anyhow::Result<PathBuf> {
    let venv_ok = find_program("python3").is_some()
        && Command::new("python3")
            .args(["-c", "import venv, ensurepip"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !venv_ok {
        bail!(
            "building a Python plugin needs Python 3 with venv (python3 with the venv and \
             ensurepip modules not found). Install it — on Debian or Ubuntu: \
             `apt-get install python3 python3-venv` — then run `wxhost plugin build` again"
        );
    }
    run_setup(
        "setup-python.sh",
        &["sdk-python/requirements.txt"],
        "the Python tools",
    )
}

/// Checks that cargo can build for `wasm32-wasip2`.
pub fn check_rust() -> anyhow::Result<()> {
    if find_program("cargo").is_none() || find_program("rustc").is_none() {
        bail!(
            "building a Rust plugin needs the Rust toolchain (cargo and rustc not found). \
             Install it with rustup, then `rustup target add wasm32-wasip2`, then run \
             `wxhost plugin build` again"
        );
    }
    // The target's standard library is where rustc looks for it.
    let libdir = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", "wasm32-wasip2"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = libdir.is_some_and(|d| {
        std::fs::read_dir(&d).is_ok_and(|mut e| {
            e.any(|f| f.is_ok_and(|f| f.file_name().to_string_lossy().starts_with("libstd")))
        })
    });
    if !installed {
        bail!(
            "building a Rust plugin needs the wasm32-wasip2 target: run \
             `rustup target add wasm32-wasip2`, then `wxhost plugin build` again"
        );
    }
    Ok(())
}

/// Runs one of the kit's set-up scripts from a scratch copy of the files it
/// reads (the same relative layout as the repository, so it computes the
/// same pin hash and finds the same install); returns what it prints.
fn run_setup(script: &str, inputs: &[&str], what: &str) -> anyhow::Result<PathBuf> {
    let kit = tempfile::tempdir().context("temporary directory")?;
    let mut prefixes = vec!["scripts/"];
    prefixes.extend_from_slice(inputs);
    authoring_kit::write_to(kit.path(), &prefixes).context("writing the set-up scripts")?;
    let path = kit.path().join("scripts").join(script);
    let out = Command::new("bash")
        .arg(&path)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {script} (is bash installed?)"))?;
    if !out.status.success() {
        bail!("setting up {what} failed (see above)");
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !Path::new(&dir).is_dir() {
        bail!("setting up {what} printed no tools directory");
    }
    Ok(dir)
}
