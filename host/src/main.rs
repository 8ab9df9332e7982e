//! The `wxhost` command line.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "wxhost", version, about = "WeChat Official Account server with WebAssembly plugins")]
struct Cli {
    /// Config file (default: ./wxhost.toml if present, else built-in defaults).
    #[arg(long, global = true, env = "WXHOST_CONFIG")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the effective configuration (secrets redacted).
    Config,
    /// Plugin tools.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Run one plugin on one message and print its reply, logs and timings.
    Run(wxhost::plugin::run_cmd::RunArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = match wxhost::config::Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wxhost: {e}");
            std::process::exit(2);
        }
    };
    match cli.command {
        Command::Config => println!("{config:#?}"),
        Command::Plugin { command: PluginCommand::Run(args) } => {
            tokio::runtime::Runtime::new()?.block_on(wxhost::plugin::run_cmd::run(args, &config))?
        }
    }
    Ok(())
}
