//! `fake-model [ADDR] [--delay-ms N]`: runs the fake OpenAI-compatible model
//! server (default 127.0.0.1:8098) until Ctrl-C, so the assistant plugin can
//! be tried with no key (`make run-assistant`):
//!
//! ```text
//! cargo run -p wxhost-tests --bin fake-model &
//! # [plugin.assistant.config] base_url = "http://127.0.0.1:8098/v1"
//! ```
//!
//! It echoes the last user message; `delay:<ms> …`, `long:<bytes>` and
//! `fail` steer it (see `wxhost_tests::fake_model`).

use std::time::Duration;

use clap::Parser;
use wxhost_tests::fake_model::FakeModel;

#[derive(Parser)]
struct Args {
    /// Address to listen on (loopback).
    #[arg(default_value = "127.0.0.1:8098")]
    addr: std::net::SocketAddr,
    /// Every answer waits this long (a slow model).
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let model = FakeModel::start_on(args.addr).await;
    model.set_delay(Duration::from_millis(args.delay_ms));
    println!(
        "fake model server on {} (POST /chat/completions)",
        model.base_url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
