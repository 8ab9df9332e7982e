//! The `wxhost` commands, one file each, each a clap struct with
//! `run(self, &Config, out)`: `main.rs` parses and calls it. Output goes to
//! `out` (stdout in `main`, a buffer in tests), so the library modules
//! (`api`, `plugin`, `server`) never print or depend on clap.
//!
//! - [`serve`], [`simulate`] (and [`simulate_oauth`], its `--oauth`),
//!   [`plugin_run`] (`plugin run`), [`token`], [`menu`], [`qrcode`],
//!   [`show_config`] (`config`), [`store_migrate`] (`store migrate`),
//!   [`admin`] (`admin hash-password`), [`send`] and [`messages`] (the
//!   outbound queue).
//! - The plugin author's commands: [`plugin_new`] (`plugin new`),
//!   [`plugin_build`] (`plugin build`), [`plugin_check`] (`plugin check`),
//!   [`plugin_publish`] (`plugin publish`: to the store, every instance);
//!   [`authoring_kit`]: the SDKs, WIT, templates and tool set-up scripts
//!   compiled in; [`guest_tools`]: finding or installing the toolchains.
//! - [`push_args`]: the flags that describe a push, shared by `simulate` and
//!   `plugin run`.

pub mod admin;
pub mod authoring_kit;
pub mod guest_tools;
pub mod menu;
pub mod messages;
pub mod open;
pub mod plugin_build;
pub mod plugin_check;
pub mod plugin_new;
pub mod plugin_publish;
pub mod plugin_run;
pub mod push_args;
pub mod qrcode;
mod schedule_run;
pub mod send;
pub mod serve;
pub mod show_config;
pub mod simulate;
pub mod simulate_oauth;
pub mod store_migrate;
pub mod token;

use std::io::Write;

use clap::Subcommand;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve WeChat's pushes with the plugins in the plugins directory.
    Serve(serve::ServeCommand),
    /// Play WeChat against a running server: send a signed (and encrypted) push, print the reply;
    /// or (--oauth PATH) log in on the web side and open a page.
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
    /// The store: migrate between backends.
    #[command(subcommand)]
    Store(store_migrate::StoreCommand),
    /// The admin console: hash-password.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Queue an outbound message: template, subscribe, customer, mass, or --file jobs.jsonl.
    Send(send::SendCommand),
    /// The outbound queue's jobs: list, show.
    #[command(subcommand)]
    Messages(messages::MessagesCommand),
    /// The Open Platform component's authorized accounts: list, recover.
    #[command(subcommand)]
    Open(open::OpenCommand),
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
    /// Validate a component and publish it to the store: every instance serves it.
    Publish(plugin_publish::PluginPublishCommand),
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
            Command::Plugin(PluginCommand::Publish(c)) => c.run(config, out).await,
            Command::Token(c) => c.run(config, out).await,
            Command::Menu(c) => c.run(config, out).await,
            Command::Qrcode(c) => c.run(config, out).await,
            Command::Store(c) => c.run(config, out).await,
            Command::Admin(c) => c.run(config, out),
            Command::Send(c) => c.run(config, out).await,
            Command::Messages(c) => c.run(config, out).await,
            Command::Open(c) => c.run(config, out).await,
        }
    }
}

/// The configured store (`[storage]`): every command opens it here, so all
/// of them use the same backend as `serve`, in the scope of the account it
/// acts for (`--account`).
pub(crate) fn open_stores(config: &Config) -> anyhow::Result<crate::store::Stores> {
    use anyhow::Context as _;
    let location = config.store_location(None)?;
    let stores = crate::store::Stores::open(&location)
        .with_context(|| format!("opening the store ({})", location.describe()))?;
    // The scope of the account the command acts for (`--account`).
    let account = config.acting_account();
    stores
        .for_account(account)
        .with_context(|| format!("opening account {account}'s store scope"))
}

/// The store and API client a CLI command uses: the same store as `serve`,
/// so commands reuse the server's access_token instead of fetching.
pub(crate) fn open_wechat(config: &Config) -> anyhow::Result<crate::api::Wechat> {
    let options = crate::api::ApiOptions {
        account: std::sync::Arc::from(config.acting_account()),
        ..Default::default()
    };
    Ok(crate::api::Wechat::with_options(
        &config.wechat,
        &open_stores(config)?,
        options,
    )?)
}
