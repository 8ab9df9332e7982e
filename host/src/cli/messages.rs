//! `wxhost messages list | show`: the outbound queue's jobs, read from the
//! deployment's queue (what `GET /api/v1/messages` answers).

use std::io::Write;

use anyhow::bail;
use clap::Subcommand;

use crate::outbound::job::Status;
use crate::outbound::queue::ListFilter;
use crate::store::format_utc;

#[derive(Debug, Subcommand)]
pub enum MessagesCommand {
    /// Jobs, newest first.
    List {
        /// queued, sent, delivered or failed.
        #[arg(long)]
        status: Option<String>,
        /// Only this account's (default: every account's).
        #[arg(long = "of-account")]
        of_account: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One job: status, reason, attempts, msgid, the job and its history.
    Show { id: i64 },
}

fn when(ms: i64) -> String {
    format_utc(ms.div_euclid(1000))
}

impl MessagesCommand {
    pub async fn run(
        self,
        config: &crate::config::Config,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let outbound = super::send::open_outbound(config).await?;
        match self {
            MessagesCommand::List {
                status,
                of_account,
                limit,
            } => {
                let status = match status.as_deref() {
                    None => None,
                    Some(s) => match Status::parse(s) {
                        Some(s) => Some(s),
                        None => bail!("--status {s}: queued, sent, delivered or failed"),
                    },
                };
                let jobs = outbound
                    .queue
                    .list(&ListFilter {
                        account: of_account,
                        status,
                        limit: limit.clamp(1, 10_000),
                        before_id: None,
                    })
                    .await?;
                writeln!(
                    out,
                    "{:>8}  {:<10} {:<9} {:<9} {:>3}  {:<24} reason",
                    "id", "account", "channel", "status", "try", "updated"
                )?;
                for j in jobs {
                    writeln!(
                        out,
                        "{:>8}  {:<10} {:<9} {:<9} {:>3}  {:<24} {}",
                        j.id,
                        j.account,
                        j.via.as_str(),
                        j.status.as_str(),
                        j.attempts,
                        when(j.updated_ms),
                        j.reason.unwrap_or_default()
                    )?;
                }
            }
            MessagesCommand::Show { id } => {
                let Some(j) = outbound.job(id, None).await? else {
                    bail!("no job {id}");
                };
                writeln!(out, "{}", serde_json::to_string_pretty(&j.to_json(true))?)?;
            }
        }
        Ok(())
    }
}
