//! Masking secrets in what we record or print: a command line (provenance, logs), cargo
//! `--config` values (provenance, the printed plan), any text holding URLs. Everything masked
//! becomes [`MASK`].
//!
//! What counts as a secret: the user-info of any URL (`http://bob:PASSWORD@proxy:3128` →
//! `http://***@proxy:3128`), the values of URL query parameters named like credentials
//! (`?private_token=…`, `&X-Amz-Signature=…`), and the values of settings whose key names one
//! ([`is_secret_key`]: `http.proxy`, `https.proxy`, `registry.token`, `registries.NAME.token`,
//! anything with `token`, `password`, `secret` or `credential` in it). Over-masking is the
//! safe side: a masked value that was not a secret costs a reader a guess, the reverse costs a
//! leaked credential.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Words that make a setting's key (or a query parameter's name) a secret's.
const SECRET_WORDS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "credential",
    "signature",
    "private-key",
    "private_key",
    "apikey",
    "api-key",
    "api_key",
];

/// `scheme://user-info@`: the user-info is everything up to the authority's last `@`.
static USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([A-Za-z][A-Za-z0-9+.\-]*://)[^/\s"'<>?#@]*(?:@[^/\s"'<>?#@]*)*@"#)
        .expect("a valid regex")
});

/// A query parameter `?name=value` or `&name=value`.
static QUERY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"([?&;]([^=&\s"'#?]+)=)([^&\s"'#;]*)"#).expect("a valid regex"));

/// `key = "value"` (or `'value'`) inside an inline TOML table or a config file's text.
static TOML_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([A-Za-z0-9_\-."]+\s*=\s*)("[^"]*"|'[^']*')"#).expect("a valid regex")
});

/// Whether a setting named `key` (a dotted cargo config key such as `registries.x.token`, an
/// option such as `--registry-password`, an environment variable name) holds a secret.
pub fn is_secret_key(key: &str) -> bool {
    let k = key
        .trim()
        .trim_start_matches('-')
        .replace('"', "")
        .to_ascii_lowercase();
    let last = k.rsplit('.').next().unwrap_or(&k);
    last == "proxy"
        || k.ends_with("_proxy")
        || SECRET_WORDS.iter().any(|w| k.contains(w))
        || last == "key"
        || last == "auth"
}

/// `text` with the user-info of every URL in it, and the values of query parameters named
/// like secrets, masked.
pub fn urls(text: &str) -> Cow<'_, str> {
    let text = USERINFO.replace_all(text, |c: &regex::Captures| format!("{}{MASK}@", &c[1]));
    if !QUERY.is_match(&text) {
        return text;
    }
    let masked = QUERY
        .replace_all(&text, |c: &regex::Captures| {
            if is_secret_key(&c[2]) || c[2].eq_ignore_ascii_case("sig") {
                format!("{}{MASK}", &c[1])
            } else {
                c[0].to_string()
            }
        })
        .into_owned();
    Cow::Owned(masked)
}

/// A cargo `--config` value with its secrets masked: `KEY=VALUE` keeps its key and masks the
/// value when the key names a secret; otherwise URLs in it are masked, and so are the values of
/// secret keys inside an inline table (`registries.x = { token = "…" }`). A path to a config
/// file is kept (its contents are not ours to print), URLs in it masked.
pub fn config_value(value: &str) -> String {
    let Some(eq) = unquoted_eq(value) else {
        return urls(value).into_owned();
    };
    let (key, rest) = (&value[..eq], &value[eq + 1..]);
    if is_secret_key(key) && !rest.trim_start().starts_with('{') {
        return format!("{key}=\"{MASK}\"");
    }
    let rest = TOML_PAIR.replace_all(rest, |c: &regex::Captures| {
        let k = c[1].trim_end().trim_end_matches('=');
        if is_secret_key(k) {
            format!("{}\"{MASK}\"", &c[1])
        } else {
            c[0].to_string()
        }
    });
    format!("{key}={}", urls(&rest))
}

/// The first `=` outside double quotes (cargo's keys may quote a part: `registries."a.b".token`).
fn unquoted_eq(s: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '=' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// A command line with its secrets masked: the value of every `--config` (as
/// [`config_value`]), the value of every option named like a secret (`--token X`,
/// `--password=X`), and URLs in any argument.
pub fn command<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut next_is: Option<Next> = None;
    for a in args {
        let a = a.as_ref();
        match next_is.take() {
            Some(Next::Config) => {
                out.push(config_value(a));
                continue;
            }
            Some(Next::Secret) => {
                out.push(MASK.to_string());
                continue;
            }
            None => {}
        }
        if let Some(v) = a.strip_prefix("--config=") {
            out.push(format!("--config={}", config_value(v)));
        } else if a == "--config" {
            out.push(a.to_string());
            next_is = Some(Next::Config);
        } else if let Some((opt, _)) = a.split_once('=').filter(|(o, _)| is_option(o)) {
            if is_secret_key(opt) {
                out.push(format!("{opt}={MASK}"));
            } else {
                out.push(urls(a).into_owned());
            }
        } else if is_option(a) && is_secret_key(a) {
            out.push(a.to_string());
            next_is = Some(Next::Secret);
        } else {
            out.push(urls(a).into_owned());
        }
    }
    out
}

enum Next {
    Config,
    Secret,
}

/// `--long-option` (not `--` alone).
fn is_option(a: &str) -> bool {
    a.len() > 2 && a.starts_with("--") && !a.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_in_urls_is_masked_wherever_it_is() {
        assert_eq!(
            urls("http.proxy=\"http://bob:PASSWORD@proxy:3128\""),
            "http.proxy=\"http://***@proxy:3128\""
        );
        assert_eq!(
            urls("tcp://user:s@cret@host:2376/x"),
            "tcp://***@host:2376/x"
        );
        assert_eq!(urls("ssh://me@box"), "ssh://***@box");
        assert_eq!(
            urls("see https://a/b and https://x:y@c/d"),
            "see https://a/b and https://***@c/d"
        );
        assert_eq!(
            urls("unix:///var/run/docker.sock"),
            "unix:///var/run/docker.sock"
        );
        assert_eq!(urls("a@b.c, not a URL"), "a@b.c, not a URL");
    }

    #[test]
    fn secret_query_parameters_are_masked_and_others_kept() {
        assert_eq!(
            urls("https://host/a.git?private_token=abc&ref=main"),
            "https://host/a.git?private_token=***&ref=main"
        );
        assert_eq!(
            urls("https://s3/x?X-Amz-Signature=f00&X-Amz-Credential=k&sig=1&page=2"),
            "https://s3/x?X-Amz-Signature=***&X-Amz-Credential=***&sig=***&page=2"
        );
    }

    #[test]
    fn secret_keys_are_recognized() {
        for k in [
            "http.proxy",
            "https.proxy",
            "registry.token",
            "registries.my-reg.token",
            "registries.\"a.b\".token",
            "registries.x.secret-key",
            "env.DB_PASSWORD",
            "env.HTTPS_PROXY",
            "--registry-password",
            "GITHUB_TOKEN",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "profile.release.strip",
            "build.rustflags",
            "target.x86_64-unknown-linux-gnu.linker",
            "--platform",
            "net.git-fetch-with-cli",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn config_values_mask_secret_keys_and_urls() {
        assert_eq!(
            config_value("http.proxy=\"http://bob:PASSWORD@proxy:3128\""),
            "http.proxy=\"***\""
        );
        assert_eq!(
            config_value("registries.acme.token='tok'"),
            "registries.acme.token=\"***\""
        );
        assert_eq!(
            config_value("registries.acme = { index = \"https://u:p@r/i\", token = \"tok\" }"),
            "registries.acme = { index = \"https://***@r/i\", token = \"***\" }"
        );
        assert_eq!(
            config_value("profile.release.strip=\"symbols\""),
            "profile.release.strip=\"symbols\""
        );
        assert_eq!(config_value("net.offline=true"), "net.offline=true");
        assert_eq!(config_value("extra/config.toml"), "extra/config.toml");
    }

    #[test]
    fn command_lines_mask_configs_secret_options_and_urls() {
        let argv = [
            "cargo-imagebuild",
            "imagebuild",
            "--config",
            "http.proxy=\"http://bob:PASSWORD@proxy:3128\"",
            "--config=https.proxy=\"http://bob:PASSWORD@p\"",
            "--registry-password",
            "PASSWORD",
            "--token=PASSWORD",
            "--repository",
            "https://bob:PASSWORD@r/x",
            "--platform",
            "linux/amd64",
        ];
        let got = command(&argv);
        assert!(got.iter().all(|a| !a.contains("PASSWORD")), "{got:?}");
        assert_eq!(
            got,
            vec![
                "cargo-imagebuild",
                "imagebuild",
                "--config",
                "http.proxy=\"***\"",
                "--config=https.proxy=\"***\"",
                "--registry-password",
                "***",
                "--token=***",
                "--repository",
                "https://***@r/x",
                "--platform",
                "linux/amd64",
            ]
        );
    }
}
