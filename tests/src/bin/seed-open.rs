//! `seed-open DATA_DIR N`: writes N authorized accounts (Open Platform
//! authorizers, as an authorization stores them) into the SQLite store of
//! DATA_DIR, for `bench/open.sh` (start-up and memory with many
//! authorizers). Their refresh tokens are not seeded: start-up needs none.

use wxhost::config::AccountConfig;
use wxhost::open::{AuthorizerInfo, AuthorizerState};
use wxhost::store::{StoredAccount, Stores, now_millis};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: seed-open DATA_DIR N");
    };
    let n: usize = n.parse()?;
    std::fs::create_dir_all(&dir)?;
    let stores = Stores::sqlite(std::path::Path::new(&dir))?;
    for i in 0..n {
        let app_id = format!("wxbench{i:011}");
        let settings = AccountConfig {
            app_id: app_id.clone(),
            authorizer: Some(AuthorizerInfo {
                user_name: format!("gh_bench{i:07}"),
                nick_name: format!("bench {i}"),
                func_info: vec![1, 2, 7],
                state: AuthorizerState::Active,
                authorized_at: 1_765_000_000,
            }),
            ..AccountConfig::default()
        };
        stores
            .accounts
            .put(&StoredAccount {
                name: app_id,
                settings: serde_json::to_string(&settings)?,
                secrets: Vec::new(),
                updated_ms: now_millis(),
            })
            .await?;
    }
    println!("{n} authorizers in {dir}");
    Ok(())
}
