//! `fake-wechat [ADDR]`: runs the fake WeChat API server (default
//! 127.0.0.1:8099) until Ctrl-C, for trying wxhost's API commands by hand:
//!
//! ```text
//! cargo run -p wxhost-tests --bin fake-wechat &
//! WXHOST_API_BASE_URL=http://127.0.0.1:8099 WXHOST_APP_ID=… WXHOST_APP_SECRET=… wxhost token refresh
//! ```

use wxhost_tests::fake_wechat::{APP_ID, APP_SECRET, FakeWechat};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".into());
    let fake = FakeWechat::start_on(addr.parse()?).await;
    println!("fake WeChat API server on {}", fake.base_url());
    println!(
        "export WXHOST_API_BASE_URL={} WXHOST_APP_ID={APP_ID} WXHOST_APP_SECRET={APP_SECRET}",
        fake.base_url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
