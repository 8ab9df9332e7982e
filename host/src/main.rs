//! The `wxhost` command line: parses the arguments, loads the config, runs
//! the command (see [`wxhost::cli`]).

use clap::Parser;

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
    /// The account a command acts for (token, menu, qrcode, simulate,
    /// config): `default` (`[wechat]`) or an `[account.<name>]`.
    #[arg(long, global = true, env = "WXHOST_ACCOUNT")]
    account: Option<String>,
    #[command(subcommand)]
    command: wxhost::cli::Command,
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
    if cli.account.is_some() && matches!(cli.command, wxhost::cli::Command::Serve(_)) {
        eprintln!("wxhost: --account: serve serves every account; it takes no --account");
        std::process::exit(2);
    }
    let loaded = Config::load(cli.config.as_deref()).and_then(|c| match &cli.account {
        Some(name) => c.acting_as(name),
        None => Ok(c),
    });
    let config = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wxhost: {e}");
            std::process::exit(2);
        }
    };
    let mut stdout = std::io::stdout();
    if let Err(e) = cli.command.run(&config, &mut stdout).await {
        eprintln!("wxhost: {e:#}");
        std::process::exit(1);
    }
}
