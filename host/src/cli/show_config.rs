//! `wxhost config`: the effective configuration, secrets redacted.

use std::io::Write;

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct ConfigCommand {}

impl ConfigCommand {
    pub fn run(self, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        writeln!(out, "{config:#?}")?;
        Ok(())
    }
}
