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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_config_values_are_not_printed() {
        let config = Config::from_toml(
            "t",
            "[plugin.bot.config]\nopenai_key = \"sk-secret-value\"\n",
            &[("WXHOST_APP_SECRET".into(), "app-secret-value".into())],
        )
        .unwrap();
        let mut out = Vec::new();
        ConfigCommand {}.run(&config, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("openai_key"), "{out}");
        for secret in ["sk-secret-value", "app-secret-value", "pamtest"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
    }
}
