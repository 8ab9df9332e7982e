//! `outbound-bench ADMIN_URL API_TOKEN JOBS BATCH LABEL`: the outbound
//! queue's throughput through a running `wxhost serve` (bench/outbound.sh
//! starts it against the fake WeChat with no rate limit):
//!
//! 1. **enqueue**: `JOBS` template jobs posted to `/api/v1/messages` in
//!    arrays of `BATCH`, four requests in flight: jobs accepted per second;
//! 2. **through**: from the first job posted until `/api/v1/outbound` shows
//!    none queued: jobs per second through enqueue → send → record.
//!
//! Prints one line per phase; fails if a job failed or went missing.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 {
        eprintln!("usage: outbound-bench ADMIN_URL API_TOKEN JOBS BATCH LABEL");
        std::process::exit(2);
    }
    let (admin, token, label) = (args[0].clone(), args[1].clone(), &args[4]);
    let jobs: usize = args[2].parse().context("JOBS")?;
    let batch: usize = args[3].parse().context("BATCH")?;
    let http = reqwest::Client::new();
    let run = rand::random::<u32>();
    let counts = |http: reqwest::Client, admin: String, token: String| async move {
        let v: Value = http
            .get(format!("{admin}/api/v1/outbound"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        let mut by = std::collections::BTreeMap::<String, u64>::new();
        for row in v["by_status"].as_array().into_iter().flatten() {
            *by.entry(row["status"].as_str().unwrap_or("").to_owned())
                .or_default() += row["count"].as_u64().unwrap_or(0);
        }
        anyhow::Ok(by)
    };
    let before = counts(http.clone(), admin.clone(), token.clone()).await?;
    let done_before =
        before.get("sent").copied().unwrap_or(0) + before.get("delivered").copied().unwrap_or(0);

    let started = Instant::now();
    let chunks: Vec<Vec<Value>> = (0..jobs)
        .map(|i| {
            json!({
                "channel": "template",
                "to": format!("o_bench_{run}_{i}"),
                "template_id": "TPL_BENCH",
                "data": {"thing1": {"value": "bench"}},
            })
        })
        .collect::<Vec<_>>()
        .chunks(batch.max(1))
        .map(<[Value]>::to_vec)
        .collect();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    let mut posts = Vec::new();
    for chunk in chunks {
        let permit = sem.clone().acquire_owned().await?;
        let (http, admin, token) = (http.clone(), admin.clone(), token.clone());
        posts.push(tokio::spawn(async move {
            let r = http
                .post(format!("{admin}/api/v1/messages"))
                .bearer_auth(&token)
                .json(&chunk)
                .send()
                .await;
            drop(permit);
            let r = r?;
            if r.status().as_u16() != 202 {
                bail!(
                    "enqueue answered {}: {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                );
            }
            anyhow::Ok(())
        }));
    }
    for p in posts {
        p.await??;
    }
    let enqueued = started.elapsed();
    println!(
        "{label}: enqueue {jobs} jobs in arrays of {batch}: {:.2} s, {:.0} jobs/s",
        enqueued.as_secs_f64(),
        jobs as f64 / enqueued.as_secs_f64()
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let by = counts(http.clone(), admin.clone(), token.clone()).await?;
        let queued = by.get("queued").copied().unwrap_or(0);
        let done = by.get("sent").copied().unwrap_or(0) + by.get("delivered").copied().unwrap_or(0);
        let failed =
            by.get("failed").copied().unwrap_or(0) - before.get("failed").copied().unwrap_or(0);
        if failed > 0 {
            bail!("{failed} jobs failed: {by:?}");
        }
        if queued == 0 && done >= done_before + jobs as u64 {
            break;
        }
        if Instant::now() > deadline {
            bail!("the queue did not drain: {by:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let through = started.elapsed();
    println!(
        "{label}: through (enqueue → send → record) {jobs} jobs: {:.2} s, {:.0} jobs/s",
        through.as_secs_f64(),
        jobs as f64 / through.as_secs_f64()
    );
    Ok(())
}
