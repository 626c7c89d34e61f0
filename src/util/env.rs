//! The environment variables a run reads, captured once at the edge: [`Environment`] is a
//! snapshot the caller makes (the binary takes the process's at start-up) and passes in with the
//! options, so no stage reads the process environment itself and a library caller (or a test)
//! can give a run exactly the variables it means. Child processes (cargo, rustup, docker) still
//! inherit the process's own environment, with what the stages set on top.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// A snapshot of environment variables: what a run reads instead of `std::env`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<OsString, OsString>,
}

impl Environment {
    /// The process's environment, now.
    pub fn from_process() -> Environment {
        Environment {
            vars: std::env::vars_os().collect(),
        }
    }

    /// No variables at all.
    pub fn empty() -> Environment {
        Environment::default()
    }

    /// Sets `key` to `value` (builder style).
    pub fn with(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Environment {
        self.set(key, value);
        self
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: impl Into<OsString>, value: impl Into<OsString>) {
        self.vars.insert(key.into(), value.into());
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: impl AsRef<OsStr>) {
        self.vars.remove(key.as_ref());
    }

    /// The value of `key`, as the OS gave it (possibly empty).
    pub fn get(&self, key: impl AsRef<OsStr>) -> Option<&OsStr> {
        self.vars.get(key.as_ref()).map(OsString::as_os_str)
    }

    /// The value of `key` when it is set, valid UTF-8 and not empty (how the tool reads its
    /// own variables: an empty one counts as unset).
    pub fn var(&self, key: impl AsRef<OsStr>) -> Option<String> {
        self.get(key)
            .and_then(OsStr::to_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// The value of `key` as a path, when set and not empty.
    pub fn path(&self, key: impl AsRef<OsStr>) -> Option<PathBuf> {
        self.get(key).filter(|v| !v.is_empty()).map(PathBuf::from)
    }

    /// The directories of `PATH`.
    pub fn search_path(&self) -> Vec<PathBuf> {
        self.get("PATH")
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default()
    }

    /// Every variable, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }
}

impl<K: Into<OsString>, V: Into<OsString>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Environment {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_unset_for_var() {
        let env = Environment::empty()
            .with("A", "")
            .with("B", "x")
            .with("PATH", "/a:/b");
        assert_eq!(env.get("A"), Some(OsStr::new("")));
        assert_eq!(env.var("A"), None);
        assert_eq!(env.var("B").as_deref(), Some("x"));
        assert_eq!(
            env.search_path(),
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(env.path("A"), None);
    }
}
