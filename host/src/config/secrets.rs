//! Plugin secrets: `[plugin.<id>.secrets] api_key = "env:ASSISTANT_API_KEY"`
//! (or `"file:/run/secrets/assistant"`). The config holds only where a
//! secret is (a [`SecretSource`], harmless to print); the value is read when
//! the plugin loads, kept in [`Secrets`] (whose `Debug` shows names only)
//! and handed to the plugin through `config-get`, like config. A secret
//! that cannot be read refuses the plugin, naming the secret and where it
//! was expected, never a value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

/// Where one secret's value is.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable of the wxhost process.
    Env(String),
    /// A file (its content, without a trailing newline).
    File(PathBuf),
}

impl std::str::FromStr for SecretSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(name) = s.strip_prefix("env:") {
            let ok =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return match ok {
                true => Ok(SecretSource::Env(name.to_owned())),
                false => Err(format!(
                    "`env:{name}` is not an environment variable name (letters, digits, _)"
                )),
            };
        }
        if let Some(path) = s.strip_prefix("file:") {
            return match path.starts_with('/') {
                true => Ok(SecretSource::File(PathBuf::from(path))),
                false => Err(format!("`file:{path}` must be an absolute path")),
            };
        }
        // Never echo the value: it may be the secret itself, pasted in.
        Err("a secret is `env:VARIABLE` or `file:/absolute/path`, never the value itself".into())
    }
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for SecretSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "env:{name}"),
            SecretSource::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl SecretSource {
    /// The value of secret `name` from here; the error names the secret and
    /// the place, never a value.
    pub fn read(&self, name: &str) -> Result<String, String> {
        let (value, place) = match self {
            SecretSource::Env(var) => (
                std::env::var(var).unwrap_or_default(),
                format!("the environment variable {var}"),
            ),
            SecretSource::File(path) => {
                let place = format!("the file {}", path.display());
                let value = std::fs::read_to_string(path).map_err(|e| {
                    format!(
                        "secret `{name}` is missing: expected in {place} ({})",
                        e.kind()
                    )
                })?;
                (value.trim_end_matches(['\n', '\r']).to_owned(), place)
            }
        };
        // An empty value is as good as none (an unset variable in a unit
        // file is often set to "").
        if value.is_empty() {
            return Err(format!(
                "secret `{name}` is missing: expected in {place} (unset or empty)"
            ));
        }
        Ok(value)
    }
}

/// A plugin's secret values, by name. `Debug` shows the names only.
#[derive(Clone, Default)]
pub struct Secrets(Arc<BTreeMap<String, String>>);

impl Secrets {
    /// Reads every secret of `sources`; the first that cannot be read is
    /// the error.
    pub fn read(sources: &BTreeMap<String, SecretSource>) -> Result<Secrets, String> {
        let mut values = BTreeMap::new();
        for (name, source) in sources {
            values.insert(name.clone(), source.read(name)?);
        }
        Ok(Secrets(Arc::new(values)))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// `text` with every secret value in it replaced by `<secret>`: what a
    /// plugin logs must not carry its key (an HTTP error quoting its own
    /// request, a debug line).
    pub fn redact<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let mut out = std::borrow::Cow::Borrowed(text);
        for value in self.0.values() {
            if out.contains(value.as_str()) {
                out = std::borrow::Cow::Owned(out.replace(value.as_str(), "<secret>"));
            }
        }
        out
    }

    #[cfg(test)]
    pub fn of(values: &[(&str, &str)]) -> Secrets {
        Secrets(Arc::new(
            values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_print_without_values() {
        assert_eq!(
            "env:ASSISTANT_API_KEY".parse::<SecretSource>().unwrap(),
            SecretSource::Env("ASSISTANT_API_KEY".into())
        );
        assert_eq!(
            "file:/run/k".parse::<SecretSource>().unwrap(),
            SecretSource::File("/run/k".into())
        );
        for bad in ["sk-pasted-value", "env:", "env:A-B", "file:relative"] {
            let e = bad.parse::<SecretSource>().unwrap_err();
            assert!(!e.contains("sk-pasted"), "{e}");
        }
    }

    #[test]
    fn a_missing_secret_names_itself_and_where_it_was_expected() {
        let mut sources = BTreeMap::new();
        sources.insert(
            "api_key".to_owned(),
            SecretSource::Env("WXHOST_TEST_SURELY_UNSET_7731".into()),
        );
        let e = Secrets::read(&sources).unwrap_err();
        assert!(
            e.contains("`api_key`") && e.contains("WXHOST_TEST_SURELY_UNSET_7731"),
            "{e}"
        );
        sources.insert(
            "api_key".to_owned(),
            SecretSource::File("/nonexistent/wxhost-secret".into()),
        );
        let e = Secrets::read(&sources).unwrap_err();
        assert!(e.contains("/nonexistent/wxhost-secret"), "{e}");
    }

    #[test]
    fn file_secrets_are_read_without_the_trailing_newline_and_debug_hides_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "sk-file-value\n").unwrap();
        let mut sources = BTreeMap::new();
        sources.insert("api_key".to_owned(), SecretSource::File(path.clone()));
        let s = Secrets::read(&sources).unwrap();
        assert_eq!(s.get("api_key"), Some("sk-file-value"));
        let shown = format!("{s:?} {sources:?}");
        assert!(
            shown.contains("api_key") && !shown.contains("sk-file-value"),
            "{shown}"
        );
        std::fs::write(&path, "").unwrap();
        assert!(
            Secrets::read(&sources)
                .unwrap_err()
                .contains("unset or empty")
        );
    }
}
