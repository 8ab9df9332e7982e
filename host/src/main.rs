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
    let config = match Config::load(cli.config.as_deref()) {
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
