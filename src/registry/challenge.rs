//! What a registry's `/v2/` answer asks for, read from its `WWW-Authenticate` headers
//! (RFC 7235): nothing ([`Challenge::Open`]), Basic credentials, or a Bearer token from the
//! token service its `realm` names (the Docker token spec). The header may repeat, one value may
//! hold several challenges, schemes are case-insensitive, and parameter values may be quoted
//! (with `\"` escapes, and commas that belong to the value: `scope="repository:a/b:pull,push"`).

use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};

/// How a registry wants to be authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// No challenge: requests go without credentials.
    Open,
    /// Basic, or a scheme we do not speak: Basic credentials are sent when we have them, as
    /// docker does.
    Basic,
    /// A token from `realm` (for `service`), sent as `Authorization: Bearer`.
    Bearer {
        realm: String,
        service: Option<String>,
        /// The scope the registry said the refused request needs, when it said.
        scope: Option<String>,
    },
}

/// The challenge of an answer's `WWW-Authenticate` headers: Bearer (with a realm) before
/// Basic before anything else; [`Challenge::Open`] when there is none.
pub fn parse(headers: &HeaderMap) -> Challenge {
    let mut found = Challenge::Open;
    for value in headers.get_all(WWW_AUTHENTICATE) {
        let Ok(text) = value.to_str() else {
            continue;
        };
        for (scheme, params) in challenges(text) {
            let get = |k: &str| {
                params
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.clone())
            };
            match (scheme.to_ascii_lowercase().as_str(), get("realm")) {
                ("bearer", Some(realm)) if !realm.is_empty() => {
                    return Challenge::Bearer {
                        realm,
                        service: get("service").filter(|s| !s.is_empty()),
                        scope: get("scope").filter(|s| !s.is_empty()),
                    }
                }
                _ => found = Challenge::Basic,
            }
        }
    }
    found
}

/// The challenges in one header value: each scheme with its `key=value` parameters.
fn challenges(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut s = Scanner {
        chars: text.chars().collect(),
        at: 0,
    };
    loop {
        s.skip(|c| c == ',' || c.is_whitespace());
        let word = s.token();
        if word.is_empty() {
            // Nothing we can read (end, or a stray character): skip one and go on.
            if s.at >= s.chars.len() {
                return out;
            }
            s.at += 1;
            continue;
        }
        s.skip(char::is_whitespace);
        if s.peek() == Some('=') && !out.is_empty() {
            // `word=value`: a parameter of the challenge before.
            s.at += 1;
            s.skip(char::is_whitespace);
            let value = if s.peek() == Some('"') {
                s.quoted()
            } else {
                s.token()
            };
            if let Some((_, params)) = out.last_mut() {
                params.push((word, value));
            }
        } else {
            out.push((word, Vec::new()));
        }
    }
}

struct Scanner {
    chars: Vec<char>,
    at: usize,
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip(&mut self, what: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&what) {
            self.at += 1;
        }
    }

    /// An unquoted word: a scheme, a key, or a value (an unquoted URL keeps its `/` and `:`).
    fn token(&mut self) -> String {
        let start = self.at;
        self.skip(|c| !c.is_whitespace() && !matches!(c, ',' | '"' | '='));
        self.chars[start..self.at].iter().collect()
    }

    /// A quoted string, the quotes removed and `\x` read as `x`.
    fn quoted(&mut self) -> String {
        self.at += 1;
        let mut value = String::new();
        while let Some(c) = self.peek() {
            self.at += 1;
            match c {
                '"' => break,
                '\\' => {
                    if let Some(next) = self.peek() {
                        value.push(next);
                        self.at += 1;
                    }
                }
                c => value.push(c),
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn of(values: &[&str]) -> Challenge {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(WWW_AUTHENTICATE, HeaderValue::from_str(v).unwrap());
        }
        parse(&h)
    }

    fn bearer(realm: &str, service: Option<&str>, scope: Option<&str>) -> Challenge {
        Challenge::Bearer {
            realm: realm.into(),
            service: service.map(Into::into),
            scope: scope.map(Into::into),
        }
    }

    #[test]
    fn docker_hub_and_distribution_challenges() {
        assert_eq!(
            of(&[
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#
            ]),
            bearer(
                "https://auth.docker.io/token",
                Some("registry.docker.io"),
                Some("repository:library/busybox:pull,push")
            )
        );
        assert_eq!(of(&[r#"Basic realm="imagebuild-test""#]), Challenge::Basic);
        assert_eq!(of(&[]), Challenge::Open);
    }

    #[test]
    fn case_spaces_escapes_and_unquoted_values() {
        assert_eq!(
            of(&[r#"bearer  Realm = "https://a/t?x=\"1\"" , service=reg.io"#]),
            bearer(r#"https://a/t?x="1""#, Some("reg.io"), None)
        );
        assert_eq!(
            of(&["BEARER realm=https://a/token,scope=repository:x:pull"]),
            bearer("https://a/token", None, Some("repository:x:pull"))
        );
    }

    #[test]
    fn several_challenges_prefer_bearer() {
        assert_eq!(
            of(&[r#"Basic realm="r", Bearer realm="https://t/token",service="s""#]),
            bearer("https://t/token", Some("s"), None)
        );
        assert_eq!(
            of(&["Negotiate YII=", r#"Bearer realm="https://t/x""#]),
            bearer("https://t/x", None, None)
        );
        // A Bearer challenge without a realm cannot be followed: treated as Basic.
        assert_eq!(of(&[r#"Bearer service="s""#]), Challenge::Basic);
        assert_eq!(of(&["Negotiate"]), Challenge::Basic);
    }
}
