//! The value types of the metadata tables ([`Port`], [`Size`], [`Asset`]) and how values are
//! read, with errors in the user's words: serde's derived messages name Rust types (`expected
//! i32`, `untagged enum Port`, `unknown variant`), which mean nothing to someone writing
//! `ports = [-1]` in Cargo.toml. Each reader here says what the key accepts instead ("a port is
//! 1–65535 or \"8080/udp\""); the settings table that uses them (`config`) names the key path
//! and the file around it.
//!
//! The readers are `deserialize_with` functions of `Option` fields (so the fields also carry
//! `#[serde(default)]`) and the `Deserialize` impls of the value types.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A size as written in metadata: bytes, or a string such as `"2GiB"`.
#[derive(Clone, Debug, PartialEq)]
pub enum Size {
    /// A number of bytes.
    Bytes(u64),
    /// A size as text: `"2GiB"`.
    Text(String),
}

impl Size {
    /// The bytes this says, or a message on what to write instead.
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            Size::Bytes(b) => Ok(*b),
            Size::Text(t) => crate::util::size::parse_size(t).ok_or_else(|| {
                format!(
                    "`{t}` is not a size: write bytes or a number with KiB, MiB or GiB (for \
                     example \"2GiB\"), or 0 for no bound"
                )
            }),
        }
    }
}

/// An exposed port as written in metadata.
#[derive(Clone, Debug, PartialEq)]
pub enum Port {
    /// A port number (TCP).
    Number(u16),
    /// `"8080"`, `"8080/tcp"` or `"53/udp"`.
    Text(String),
}

impl Port {
    /// `8080/tcp` form, as the image config's ExposedPorts wants.
    pub fn normalized(&self) -> Result<String, String> {
        match self {
            Port::Number(0) => Err("port 0 cannot be exposed".into()),
            Port::Number(n) => Ok(format!("{n}/tcp")),
            Port::Text(t) => {
                let (num, proto) = t.split_once('/').unwrap_or((t.as_str(), "tcp"));
                let n: u16 = num.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("`{t}` is not a port: use a number like 8080 or \"8080/tcp\"")
                })?;
                let proto = proto.to_ascii_lowercase();
                if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
                    return Err(format!("`{t}`: the protocol must be tcp, udp or sctp"));
                }
                Ok(format!("{n}/{proto}"))
            }
        }
    }
}

/// An extra file (or directory, copied recursively) to put in the image.
#[derive(Clone, Debug, PartialEq)]
pub enum Asset {
    /// `{ source, dest, mode }`.
    Table {
        /// The file or directory, relative to the Cargo.toml that names it.
        source: std::path::PathBuf,
        /// Its absolute path in the image.
        dest: String,
        /// Octal permission bits (`"0644"`); default: the file's own.
        mode: Option<String>,
    },
    /// cargo-deb's `[source, dest, mode]`.
    Tuple(Vec<String>),
}

/// A whole number in `range`: `what` reads after "expected" ("a number of seconds, 1 to
/// 3600"), `fix` after "out of range:" ("give 1 to 3600 seconds").
struct Whole {
    what: &'static str,
    fix: &'static str,
    range: std::ops::RangeInclusive<i64>,
}

impl<'de> Visitor<'de> for Whole {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.what)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        if self.range.contains(&v) {
            Ok(v)
        } else {
            Err(E::custom(format!("{v} is out of range: {}", self.fix)))
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(E::custom(format!("{v} is out of range: {}", self.fix))),
        }
    }
}

/// `compression-level`: the range of the algorithm is checked once the algorithm is known.
pub(crate) fn level<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    let v = d.deserialize_any(Whole {
        what: "a whole number: gzip 0-9, zstd 1-22",
        fix: "give gzip 0-9, zstd 1-22",
        range: i32::MIN as i64..=i32::MAX as i64,
    })?;
    // In range by the check above.
    Ok(i32::try_from(v).ok())
}

/// `registry-timeout`: seconds.
pub(crate) fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = d.deserialize_any(Whole {
        what: "a number of seconds, 1 to 3600",
        fix: "give 1 to 3600 seconds",
        range: 1..=3600,
    })?;
    Ok(u64::try_from(v).ok())
}

/// `retries`: a count.
pub(crate) fn retries<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = d.deserialize_any(Whole {
        what: "a number of retries, 0 to 20",
        fix: "give 0 to 20",
        range: 0..=20,
    })?;
    Ok(u32::try_from(v).ok())
}

/// A string parsed by `T`'s `FromStr`, whose error is already in the user's words (`strip`,
/// `compression`).
pub(crate) fn parsed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    struct Text<T>(PhantomData<T>);
    impl<'de, T: FromStr<Err = String>> Visitor<'de> for Text<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            v.parse().map_err(E::custom)
        }
    }
    d.deserialize_any(Text(PhantomData)).map(Some)
}

/// What a port is, for every message about one.
pub const PORT_FORMS: &str = "a port is 1–65535 or \"8080/udp\"";

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Port;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(PORT_FORMS)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Port, E> {
                match u16::try_from(v) {
                    Ok(n) if n > 0 => Ok(Port::Number(n)),
                    _ => Err(E::custom(format!("`{v}` is not a port: {PORT_FORMS}"))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Port, E> {
                match u16::try_from(v) {
                    Ok(n) if n > 0 => Ok(Port::Number(n)),
                    _ => Err(E::custom(format!("`{v}` is not a port: {PORT_FORMS}"))),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Port, E> {
                Ok(Port::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size: bytes, or a string such as \"2GiB\" (0 for no bound)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v).map(Size::Bytes).map_err(|_| {
                    E::custom(format!(
                        "{v} is not a size: give bytes, or a string such as \"2GiB\" (0 for no bound)"
                    ))
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size::Bytes(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                Ok(Size::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// What an asset is, for every message about one.
pub const ASSET_FORMS: &str = "an asset is { source = \"config/app.toml\", dest = \
     \"/etc/app/app.toml\", mode = \"0644\" } or [\"source\", \"/dest\"] or [\"source\", \"/dest\", \
     \"0644\"]";

impl<'de> Deserialize<'de> for Asset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use de::Error as _;
        /// The table form, read on its own so its messages name its keys.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, expecting = "an asset table")]
        struct Table {
            source: std::path::PathBuf,
            dest: String,
            #[serde(default)]
            mode: Option<String>,
        }
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::Object(_) => {
                let t: Table = serde_json::from_value(v)
                    .map_err(|e| D::Error::custom(format!("{e}; {ASSET_FORMS}")))?;
                Ok(Asset::Table {
                    source: t.source,
                    dest: t.dest,
                    mode: t.mode,
                })
            }
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    serde_json::Value::String(s) => Ok(s),
                    other => Err(D::Error::custom(format!(
                        "`{other}` is not a string; {ASSET_FORMS}"
                    ))),
                })
                .collect::<Result<_, _>>()
                .map(Asset::Tuple),
            other => Err(D::Error::custom(format!(
                "`{other}` is not an asset; {ASSET_FORMS}"
            ))),
        }
    }
}
