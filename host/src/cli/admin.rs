//! `wxhost admin hash-password`: an argon2 PHC string for
//! `admin.password_hash`, from a password read on standard input (never an
//! argument: arguments end up in shell history and `ps`).

use std::io::{BufRead, Write};

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Read a password from standard input, print its argon2 hash for admin.password_hash.
    HashPassword,
}

impl AdminCommand {
    pub fn run(self, _config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        match self {
            AdminCommand::HashPassword => {
                if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                    eprint!("password (input is shown; pipe it in to hide it): ");
                }
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                let password = line.trim_end_matches(['\n', '\r']);
                writeln!(out, "{}", hash_password(password)?)?;
                Ok(())
            }
        }
    }
}

/// The argon2id PHC string of `password` (a random salt each time).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::PasswordHasher as _;
    use argon2::password_hash::SaltString;
    if password.is_empty() {
        bail!("the password is empty");
    }
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| anyhow::anyhow!("making a salt: {e}"))?;
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hashed_password_verifies_and_is_accepted_by_the_config() {
        use argon2::PasswordVerifier as _;
        let phc = super::hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        let parsed = argon2::PasswordHash::new(&phc).unwrap();
        let a = argon2::Argon2::default();
        assert!(a.verify_password(b"correct horse", &parsed).is_ok());
        assert!(a.verify_password(b"wrong", &parsed).is_err());
        let c = crate::config::Config::from_toml(
            "t",
            &format!("[admin]\npassword_hash = \"{phc}\"\n"),
            &[],
        )
        .unwrap();
        assert_eq!(c.admin.password_hash.as_deref(), Some(phc.as_str()));
        // The hash is never printed by `wxhost config`.
        assert!(!format!("{c:?}").contains(&phc));
    }
}
