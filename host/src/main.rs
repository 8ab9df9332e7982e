//! The `wxhost` command line.

use clap::{Parser, Subcommand};

// glibc malloc showed up as ~15% of the service's CPU under load (many small
// per-request allocations across threads); mimalloc handles that pattern better.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use wxhost::config::Config;

#[derive(Parser)]
#[command(
    name = "wxhost",
    version,
    about = "WeChat Official Account server with WebAssembly plugins"
)]
struct Cli {
    /// Config file (default: ./wxhost.toml if present, else built-in defaults).
    #[arg(long, global = true, env = "WXHOST_CONFIG")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve WeChat's pushes with the plugins in the plugins directory.
    Serve,
    /// Play WeChat against a running server: send a signed (and encrypted) push, print the reply.
    Simulate(wxhost::simulate::SimulateArgs),
    /// Print the effective configuration (secrets redacted).
    Config,
    /// Plugin tools.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// The access_token: status (never the token itself) or a refresh.
    #[command(subcommand)]
    Token(wxhost::api::cli::TokenCommand),
    /// Custom menus: publish, show, history, rollback, delete.
    #[command(subcommand)]
    Menu(wxhost::api::cli::MenuCommand),
    /// Parametric QR codes: create, list, show.
    #[command(subcommand)]
    Qrcode(wxhost::api::cli::QrcodeCommand),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Run one plugin on one message and print its reply, logs and timings.
    Run(wxhost::plugin::run_cmd::RunArgs),
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WXHOST_LOG")
                .unwrap_or_else(|_| "info,wasmtime=warn,cranelift=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wxhost: {e}");
            std::process::exit(2);
        }
    };
    let mut stdout = std::io::stdout();
    let result = match cli.command {
        Command::Serve => wxhost::server::serve(config).await,
        Command::Simulate(args) => wxhost::simulate::run(&config, args).await,
        Command::Plugin {
            command: PluginCommand::Run(args),
        } => wxhost::plugin::run_cmd::run(args, &config).await,
        Command::Token(cmd) => wxhost::api::cli::run_token(&config, cmd, &mut stdout).await,
        Command::Menu(cmd) => wxhost::api::cli::run_menu(&config, cmd, &mut stdout).await,
        Command::Qrcode(cmd) => wxhost::api::cli::run_qrcode(&config, cmd, &mut stdout).await,
        Command::Config => {
            println!("{config:#?}");
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("wxhost: {e:#}");
        std::process::exit(1);
    }
}
