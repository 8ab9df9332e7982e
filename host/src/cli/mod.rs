//! The `wxhost` commands, one file each, each a clap struct with
//! `run(self, &Config, out)`: `main.rs` parses and calls it. Output goes to
//! `out` (stdout in `main`, a buffer in tests), so the library modules
//! (`api`, `plugin`, `server`) never print or depend on clap.
//!
//! - [`serve`], [`simulate`], [`plugin_run`] (`plugin run`), [`token`],
//!   [`menu`], [`qrcode`], [`show_config`] (`config`).
//! - The plugin author's commands: [`plugin_new`] (`plugin new`),
//!   [`plugin_build`] (`plugin build`), [`plugin_check`] (`plugin check`);
//!   [`authoring_kit`]: the SDKs, WIT, templates and tool set-up scripts
//!   compiled in; [`guest_tools`]: finding or installing the toolchains.
//! - [`push_args`]: the flags that describe a push, shared by `simulate` and
//!   `plugin run`.

pub mod authoring_kit;
pub mod guest_tools;
pub mod menu;
pub mod plugin_build;
pub mod plugin_check;
pub mod plugin_new;
pub mod plugin_run;
pub mod push_args;
pub mod qrcode;
pub mod serve;
pub mod show_config;
pub mod simulate;
pub mod token;

use std::io::Write;

use clap::Subcommand;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve WeChat's pushes with the plugins in the plugins directory.
    Serve(serve::ServeCommand),
    /// Play WeChat against a running server: send a signed (and encrypted) push, print the reply.
    Simulate(simulate::SimulateCommand),
    /// Print the effective configuration (secrets redacted).
    Config(show_config::ConfigCommand),
    /// Plugin tools.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// The access_token: status (never the token itself) or a refresh.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Custom menus: publish, show, history, rollback, delete.
    #[command(subcommand)]
    Menu(menu::MenuCommand),
    /// Parametric QR codes: create, list, show.
    #[command(subcommand)]
    Qrcode(qrcode::QrcodeCommand),
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Run one plugin on one message and print its reply, logs and timings.
    Run(plugin_run::PluginRunCommand),
    /// Write a new plugin project (Rust, JavaScript or Python) that answers a text with the same text.
    New(plugin_new::PluginNewCommand),
    /// Build a plugin project into DIR/NAME.wasm.
    Build(plugin_build::PluginBuildCommand),
    /// Validate a component exactly as the server loads it and print what it declares.
    Check(plugin_check::PluginCheckCommand),
}

impl Command {
    pub async fn run(self, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        match self {
            Command::Serve(c) => c.run(config, out).await,
            Command::Simulate(c) => c.run(config, out).await,
            Command::Config(c) => c.run(config, out),
            Command::Plugin(PluginCommand::Run(c)) => c.run(config, out).await,
            Command::Plugin(PluginCommand::New(c)) => c.run(config, out),
            Command::Plugin(PluginCommand::Build(c)) => c.run(config, out),
            Command::Plugin(PluginCommand::Check(c)) => c.run(config, out).await,
            Command::Token(c) => c.run(config, out).await,
            Command::Menu(c) => c.run(config, out).await,
            Command::Qrcode(c) => c.run(config, out).await,
        }
    }
}

/// The store and API client a CLI command uses: the same store as `serve`,
/// so commands reuse the server's access_token instead of fetching.
pub(crate) fn open_wechat(config: &Config) -> anyhow::Result<crate::api::Wechat> {
    use anyhow::Context as _;
    let stores = crate::store::Stores::open(&config.storage.data_dir)
        .with_context(|| format!("opening the store in {}", config.storage.data_dir.display()))?;
    Ok(crate::api::Wechat::new(&config.wechat, &stores)?)
}
