//! [`ActivityLog`] on Redis:
//! - `<p>activity`: a stream of recent pushes (field `r`, the row's JSON),
//!   `XADD … MAXLEN ~` [`STREAM_CAP`];
//! - `<p>activity-minute:<unix minute>`: a hash, instance → its counters of
//!   that minute, expiring after [`MINUTES_KEPT_SECS`];
//! - `<p>instances`: a hash, instance → when it last reported (unix ms).
//!
//! A report is one pipeline (one round trip), sent once a second by each
//! instance off every push's path.

use async_trait::async_trait;

use super::RedisStore;
use crate::store::activity::{MINUTES_KEPT_SECS, STREAM_CAP};
use crate::store::{ActivityLog, StoreError};

impl RedisStore {
    fn minute_key(&self, minute: u64) -> String {
        self.key(format_args!("activity-minute:{minute}"))
    }
}

#[async_trait]
impl ActivityLog for RedisStore {
    async fn report(
        &self,
        instance: &str,
        now_ms: u64,
        rows: &[String],
        minutes: &[(u64, String)],
    ) -> Result<(), StoreError> {
        let stream = self.key(format_args!("activity"));
        let instances = self.key(format_args!("instances"));
        let minute_keys: Vec<(String, &String)> = minutes
            .iter()
            .map(|(m, json)| (self.minute_key(*m), json))
            .collect();
        self.call(|mut c| async move {
            let mut p = ::redis::pipe();
            for row in rows {
                p.cmd("XADD")
                    .arg(&stream)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(STREAM_CAP)
                    .arg("*")
                    .arg("r")
                    .arg(row)
                    .ignore();
            }
            for (key, json) in &minute_keys {
                p.cmd("HSET").arg(key).arg(instance).arg(*json).ignore();
                p.cmd("EXPIRE").arg(key).arg(MINUTES_KEPT_SECS).ignore();
            }
            p.cmd("HSET")
                .arg(&instances)
                .arg(instance)
                .arg(now_ms)
                .ignore();
            p.exec_async(&mut c).await
        })
        .await
    }

    async fn recent(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let stream = self.key(format_args!("activity"));
        let entries: Vec<(String, Vec<(String, String)>)> = self
            .call(|mut c| async move {
                ::redis::cmd("XREVRANGE")
                    .arg(stream)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(limit)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(entries
            .into_iter()
            .filter_map(|(_, fields)| fields.into_iter().find(|(f, _)| f == "r").map(|(_, v)| v))
            .collect())
    }

    async fn minutes(
        &self,
        first: u64,
        last: u64,
    ) -> Result<Vec<(u64, Vec<(String, String)>)>, StoreError> {
        let keys: Vec<String> = (first..=last).map(|m| self.minute_key(m)).collect();
        let all: Vec<Vec<(String, String)>> = self
            .call(|mut c| async move {
                let mut p = ::redis::pipe();
                for k in &keys {
                    p.cmd("HGETALL").arg(k);
                }
                p.query_async(&mut c).await
            })
            .await?;
        Ok((first..=last).zip(all).collect())
    }

    async fn instances(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let k = self.key(format_args!("instances"));
        let mut all: Vec<(String, u64)> = self
            .call(|mut c| async move { ::redis::cmd("HGETALL").arg(k).query_async(&mut c).await })
            .await?;
        all.sort();
        Ok(all)
    }
}
