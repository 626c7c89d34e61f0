//! Checks of values that no parser of their own owns: the runtime settings of an image (labels,
//! user) and the `--insecure-registry` hosts. Pure; each error names the value and the fix.

use anyhow::{bail, Result};

use crate::image::document::RuntimeConfig;

/// A label needs a key; a user is `USER[:GROUP]` with neither part empty.
pub fn runtime(r: &RuntimeConfig) -> Result<()> {
    if let Some(v) = r
        .labels
        .iter()
        .find(|(k, _)| k.trim().is_empty())
        .map(|(_, v)| v)
    {
        bail!("a label has an empty key (value `{v}`): write KEY=VALUE with a key");
    }
    if let Some(user) = &r.user {
        let parts: Vec<&str> = user.split(':').collect();
        if parts.len() > 2 || parts.iter().any(|p| p.trim().is_empty()) {
            bail!(
                "user `{user}` is not USER[:GROUP]: write a name or number, optionally with \
                 one group, for example 1000:1000 or app"
            );
        }
    }
    Ok(())
}

/// Every `--insecure-registry` value is a bare `host[:port]`.
pub fn insecure_registries(hosts: &[String]) -> Result<()> {
    for h in hosts {
        crate::image::reference::check_host(h.trim())
            .map_err(|e| anyhow::anyhow!("--insecure-registry {h}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_hosts() {
        let mut r = RuntimeConfig::default();
        for ok in ["1000", "app:app", "0:0"] {
            r.user = Some(ok.into());
            runtime(&r).unwrap();
        }
        for bad in ["root:wheel:extra", ":x", "x:", ""] {
            r.user = Some(bad.into());
            assert!(runtime(&r).is_err(), "{bad}");
        }
        insecure_registries(&["127.0.0.1:5000".into(), "reg.local".into()]).unwrap();
        for bad in ["http://x", "x/y", "x:99999", "x:0", ":5000"] {
            assert!(insecure_registries(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
