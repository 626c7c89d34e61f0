//! Image documents: the config, the manifest and the index, serialized to stable bytes, and the
//! one place that decides which annotations and labels go on each: [`Described`] (what the
//! package and its git checkout say: the `org.opencontainers.image.*` values) on the index, every
//! manifest and as config labels; the user's [`Annotations`] at the level they name (buildx's
//! `index:`, `manifest:`, `manifest[PLATFORM]:`, `manifest-descriptor:` prefixes).
//!
//! The config is edited as a `serde_json::Value` so a base image's fields we do not model are
//! kept byte for byte; manifests and indexes are built with oci-spec's types. Everything goes
//! through `serde_json::Value` before it becomes bytes, whose maps are sorted, so the same inputs
//! give the same digests (oci-spec's own maps are `HashMap`s).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use crate::image::model::{annotation, media, Descriptor, Document, Image, Layer};
use crate::image::platform::Platform;

/// What an image says about itself, from the package's Cargo.toml and the git checkout: the
/// `org.opencontainers.image.*` values (absent ones are left out).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Described {
    pub created: String,
    pub title: String,
    pub version: String,
    pub source: Option<String>,
    /// The commit, `-dirty` when the tree had changes.
    pub revision: Option<String>,
    pub licenses: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub documentation: Option<String>,
    pub vendor: Option<String>,
    pub authors: Option<String>,
}

impl Described {
    /// The values by their annotation (and label) keys.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        let mut put = |k: &str, v: Option<&String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                a.insert(k.to_string(), v.clone());
            }
        };
        put(annotation::CREATED, Some(&self.created));
        put(annotation::TITLE, Some(&self.title));
        put(annotation::VERSION, Some(&self.version));
        put(annotation::SOURCE, self.source.as_ref());
        put(annotation::REVISION, self.revision.as_ref());
        put(annotation::LICENSES, self.licenses.as_ref());
        put(annotation::DESCRIPTION, self.description.as_ref());
        put(annotation::URL, self.url.as_ref());
        put(annotation::DOCUMENTATION, self.documentation.as_ref());
        put(annotation::VENDOR, self.vendor.as_ref());
        put(annotation::AUTHORS, self.authors.as_ref());
        a
    }

    /// The config labels: these values, then the user's labels over them.
    pub fn labels(&self, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut l = self.annotations();
        l.extend(user.clone());
        l
    }
}

/// The user's annotations by the level they go to, as buildx names them: `index:K=V`,
/// `manifest:K=V` (every manifest), `manifest[linux/arm64]:K=V` (one platform's),
/// `manifest-descriptor:K=V` (the index's descriptor of each manifest, also with `[PLATFORM]`);
/// several levels join with commas (`index,manifest:K=V`). A key with no level goes on the index
/// and every manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Annotations {
    pub index: BTreeMap<String, String>,
    /// `(None, …)` for every manifest, `(Some(platform), …)` for one.
    pub manifest: Vec<(Option<Platform>, BTreeMap<String, String>)>,
    pub descriptor: Vec<(Option<Platform>, BTreeMap<String, String>)>,
}

/// A level prefix that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("annotation `{key}`: {problem}; levels are index, manifest, manifest[os/arch], manifest-descriptor (as `manifest[linux/arm64]:KEY=VALUE`)")]
pub struct AnnotationError {
    pub key: String,
    pub problem: String,
}

impl Annotations {
    /// Sorts `KEY=VALUE` pairs (keys with their level prefixes) by level.
    pub fn parse(pairs: &BTreeMap<String, String>) -> Result<Annotations, AnnotationError> {
        let mut out = Annotations::default();
        for (key, value) in pairs {
            let err = |problem: String| AnnotationError {
                key: key.clone(),
                problem,
            };
            let Some((levels, name)) = split_levels(key) else {
                if let Some(problem) = broken_level(key) {
                    return Err(err(problem));
                }
                out.index.insert(key.clone(), value.clone());
                add(&mut out.manifest, None, key, value);
                continue;
            };
            if name.is_empty() {
                return Err(err("the key after the level is empty".into()));
            }
            for (level, platforms) in levels {
                let platforms: Vec<Option<Platform>> = match platforms {
                    None => vec![None],
                    Some(list) => list
                        .split(',')
                        .map(|p| {
                            p.trim()
                                .parse::<Platform>()
                                .map(Some)
                                .map_err(|e| err(format!("{e}")))
                        })
                        .collect::<Result<_, _>>()?,
                };
                for p in platforms {
                    match (level, &p) {
                        ("index", None) => {
                            out.index.insert(name.to_string(), value.clone());
                        }
                        ("index", Some(_)) => {
                            return Err(err("the index level takes no platform".into()))
                        }
                        ("manifest", _) => add(&mut out.manifest, p.clone(), name, value),
                        ("manifest-descriptor", _) => {
                            add(&mut out.descriptor, p.clone(), name, value)
                        }
                        ("index-descriptor", _) => {
                            return Err(err(
                                "index-descriptor is not written here: use index".into()
                            ))
                        }
                        (other, _) => return Err(err(format!("unknown level `{other}`"))),
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every platform a level names, to check against the platforms built.
    pub fn platforms(&self) -> impl Iterator<Item = &Platform> {
        self.manifest
            .iter()
            .chain(&self.descriptor)
            .filter_map(|(p, _)| p.as_ref())
    }

    /// What goes on the manifest of `platform`.
    pub fn for_manifest(&self, platform: &Platform) -> BTreeMap<String, String> {
        pick(&self.manifest, platform)
    }

    /// What goes on the index's descriptor of the manifest of `platform`.
    pub fn for_descriptor(&self, platform: &Platform) -> BTreeMap<String, String> {
        pick(&self.descriptor, platform)
    }
}

fn add(
    to: &mut Vec<(Option<Platform>, BTreeMap<String, String>)>,
    platform: Option<Platform>,
    key: &str,
    value: &str,
) {
    match to.iter_mut().find(|(p, _)| *p == platform) {
        Some((_, m)) => {
            m.insert(key.to_string(), value.to_string());
        }
        None => to.push((platform, [(key.to_string(), value.to_string())].into())),
    }
}

/// The general entries, then the platform's over them.
fn pick(
    from: &[(Option<Platform>, BTreeMap<String, String>)],
    platform: &Platform,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (_, m) in from.iter().filter(|(p, _)| p.is_none()) {
        out.extend(m.clone());
    }
    for (_, m) in from
        .iter()
        .filter(|(p, _)| p.as_ref().is_some_and(|p| p.matches(platform)))
    {
        out.extend(m.clone());
    }
    out
}

/// Why a key that begins with a level and a bracket (`manifest[linux/amd64:K`, `index[:K`)
/// has no level prefix that [`split_levels`] can read: such a key is a typo, not a key.
fn broken_level(key: &str) -> Option<String> {
    let level = [
        "manifest-descriptor",
        "index-descriptor",
        "manifest",
        "index",
    ]
    .into_iter()
    .find(|l| {
        key.strip_prefix(l)
            .is_some_and(|r| r.starts_with(['[', ',']))
    })?;
    if !key.contains('[') {
        return None;
    }
    if key.matches('[').count() != key.matches(']').count() {
        return Some(format!("the `[` after `{level}` is not closed"));
    }
    Some("its level prefix cannot be read".to_string())
}

/// A level name and the platforms in its brackets, if any.
type Level<'a> = (&'a str, Option<&'a str>);

/// `index,manifest[linux/arm64]:KEY` → `([("index", None), ("manifest", Some("linux/arm64"))],
/// "KEY")`; `None` when the key has no level prefix (what precedes its first `:` outside
/// brackets is not made of level names: keys such as `com.example:x` stay whole).
fn split_levels(key: &str) -> Option<(Vec<Level<'_>>, &str)> {
    let mut depth = 0;
    let colon = key.char_indices().find_map(|(i, c)| match c {
        '[' => {
            depth += 1;
            None
        }
        ']' => {
            depth -= 1;
            None
        }
        ':' if depth == 0 => Some(i),
        _ => None,
    })?;
    let (prefix, name) = (&key[..colon], &key[colon + 1..]);
    let mut levels = Vec::new();
    let mut rest = prefix;
    while !rest.is_empty() {
        let end = rest.find([',', '[']).unwrap_or(rest.len());
        let level = &rest[..end];
        if !matches!(
            level,
            "index" | "manifest" | "manifest-descriptor" | "index-descriptor"
        ) {
            return None;
        }
        rest = &rest[end..];
        let mut platforms = None;
        if let Some(inner) = rest.strip_prefix('[') {
            let close = inner.find(']')?;
            platforms = Some(&inner[..close]);
            rest = &inner[close + 1..];
        }
        levels.push((level, platforms));
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    if levels.is_empty() {
        return None;
    }
    Some((levels, name))
}

/// PATH for images whose base sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The runtime settings that go into an image's config.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct RuntimeConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Option<Vec<String>>,
    /// `(name, value)`, applied over the base's variables.
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `8080/tcp` form.
    pub ports: Vec<String>,
}

/// Stable JSON bytes: sorted keys, no whitespace.
pub fn to_stable_bytes<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    let v = serde_json::to_value(value).context("serializing an image document")?;
    serde_json::to_vec(&v).context("serializing an image document")
}

/// RFC 3339 for a Unix time: `1970-01-01T00:00:00Z`.
/// The last second RFC 3339 can write (9999-12-31T23:59:59Z); later times are refused when
/// `SOURCE_DATE_EPOCH` is read.
pub const LAST_TIMESTAMP: u64 = 253_402_300_799;

/// `epoch_seconds` as an RFC 3339 UTC time: `2024-01-02T03:04:05Z`.
pub fn rfc3339(epoch_seconds: u64) -> String {
    // Clamped, so no input can make the formatter panic.
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch_seconds.min(LAST_TIMESTAMP));
    humantime::format_rfc3339_seconds(t).to_string()
}

fn object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// The config for `platform`: `base` (a base image's config, or `None` for scratch) with our
/// layers appended and our runtime settings applied.
pub fn config(
    base: Option<&Value>,
    platform: &Platform,
    runtime: &RuntimeConfig,
    layers: &[Layer],
    created: &str,
) -> Result<Document> {
    let mut doc = base.cloned().unwrap_or_else(|| json!({}));
    let top = object(&mut doc);
    top.insert("architecture".into(), json!(platform.architecture));
    top.insert("os".into(), json!(platform.os));
    match &platform.variant {
        Some(v) => top.insert("variant".into(), json!(v)),
        None => top.remove("variant"),
    };
    top.insert("created".into(), json!(created));

    let cfg = object(top.entry("config").or_insert_with(|| json!({})));
    // Env: the base's variables, ours replacing same-named ones, PATH always set.
    let mut env: Vec<(String, String)> = cfg
        .get("Env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.insert(0, ("PATH".into(), DEFAULT_PATH.into()));
    }
    for (k, v) in &runtime.env {
        match env.iter_mut().find(|(ek, _)| ek == k) {
            Some(slot) => slot.1 = v.clone(),
            None => env.push((k.clone(), v.clone())),
        }
    }
    cfg.insert(
        "Env".into(),
        json!(env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()),
    );
    // Setting an entrypoint resets the base's Cmd, as in a Dockerfile.
    cfg.insert("Entrypoint".into(), json!(runtime.entrypoint));
    match &runtime.cmd {
        Some(cmd) => cfg.insert("Cmd".into(), json!(cmd)),
        None => cfg.remove("Cmd"),
    };
    if let Some(w) = &runtime.workdir {
        cfg.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &runtime.user {
        cfg.insert("User".into(), json!(u));
    }
    if !runtime.labels.is_empty() {
        let labels = object(cfg.entry("Labels").or_insert_with(|| json!({})));
        for (k, v) in &runtime.labels {
            labels.insert(k.clone(), json!(v));
        }
    }
    if !runtime.ports.is_empty() {
        let ports = object(cfg.entry("ExposedPorts").or_insert_with(|| json!({})));
        for p in &runtime.ports {
            ports.insert(p.clone(), json!({}));
        }
    }

    let rootfs = object(top.entry("rootfs").or_insert_with(|| json!({})));
    rootfs.insert("type".into(), json!("layers"));
    let diff_ids = rootfs.entry("diff_ids").or_insert_with(|| json!([]));
    if !diff_ids.is_array() {
        *diff_ids = json!([]);
    }
    if let Value::Array(ids) = diff_ids {
        ids.extend(layers.iter().map(|l| json!(l.diff_id.as_str())));
    }
    let history = top.entry("history").or_insert_with(|| json!([]));
    if !history.is_array() {
        *history = json!([]);
    }
    if let Value::Array(h) = history {
        h.extend(
            layers
                .iter()
                .map(|l| json!({"created": created, "created_by": l.created_by})),
        );
    }
    Ok(Document::new(media::CONFIG, serde_json::to_vec(&doc)?))
}

/// The largest manifest or index registries take: distribution (the registry most others
/// follow) refuses a bigger one, after every blob has been uploaded.
pub const DOCUMENT_LIMIT: usize = 4 << 20;

/// Room a manifest needs besides its annotations: its config and layer descriptors.
pub const DESCRIPTOR_ROOM: usize = 64 << 10;

/// Refuses `what` (a manifest or an index) of `len` bytes when registries would refuse it.
pub fn within_limit(what: &str, len: usize) -> Result<()> {
    if len > DOCUMENT_LIMIT {
        anyhow::bail!(
            "{what} would be {len} bytes, more than the 4 MiB (4194304 bytes) that registries \
             accept: shorten or drop the largest annotations (--annotation, the `annotations` \
             setting) or the package's description"
        );
    }
    Ok(())
}

/// The manifest over `base_layers` then `layers`, with `config`.
pub fn manifest(
    config: &Document,
    layers: &[&Descriptor],
    annotations: &BTreeMap<String, String>,
) -> Result<Document> {
    let mut m = oci_spec::image::ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(oci_spec::image::MediaType::ImageManifest)
        .config(config.descriptor.to_oci())
        .layers(layers.iter().map(|d| d.to_oci()).collect::<Vec<_>>())
        .build()
        .context("building an image manifest")?;
    if !annotations.is_empty() {
        m.set_annotations(Some(annotations.clone().into_iter().collect()));
    }
    let bytes = to_stable_bytes(&m)?;
    within_limit("the image manifest", bytes.len())?;
    Ok(Document::new(media::MANIFEST, bytes))
}

/// The index listing one manifest per image, each with its platform and the annotations
/// `descriptors` gives for that platform.
pub fn index(
    images: &[Image],
    annotations: &BTreeMap<String, String>,
    descriptors: &dyn Fn(&Platform) -> BTreeMap<String, String>,
) -> Result<Document> {
    let manifests = images
        .iter()
        .map(|img| {
            let mut d = img.manifest.descriptor.to_oci();
            d.set_platform(Some(img.platform.to_oci()));
            let a = descriptors(&img.platform);
            if !a.is_empty() {
                d.set_annotations(Some(a.into_iter().collect()));
            }
            d
        })
        .collect::<Vec<_>>();
    let mut idx = oci_spec::image::ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(oci_spec::image::MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .context("building an image index")?;
    if !annotations.is_empty() {
        idx.set_annotations(Some(annotations.clone().into_iter().collect()));
    }
    let bytes = to_stable_bytes(&idx)?;
    within_limit("the image index", bytes.len())?;
    Ok(Document::new(media::INDEX, bytes))
}

/// The annotations of a manifest: what the image says about itself, a registry base's name and
/// digest, then the user's for this manifest (`extra`) over them.
pub fn manifest_annotations(
    described: &Described,
    base: Option<(&str, &str)>,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut a = described.annotations();
    if let Some((name, digest)) = base {
        a.insert(annotation::BASE_NAME.to_string(), name.to_string());
        a.insert(annotation::BASE_DIGEST.to_string(), digest.to_string());
    }
    a.extend(extra.clone());
    a
}

/// The bytes of an empty config (`application/vnd.oci.empty.v1+json`).
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// The OCI 1.1 artifact manifest that attaches `document` to `subject` (a platform's manifest):
/// `artifactType` is the document's media type, the config is the empty one, the one layer is
/// the document.
pub fn artifact_manifest(
    document: &Document,
    subject: &Descriptor,
    annotations: &BTreeMap<String, String>,
) -> Result<Document> {
    let empty = Descriptor::of_bytes(media::EMPTY, EMPTY_CONFIG);
    let d = |d: &Descriptor| json!({"mediaType": d.media_type, "digest": d.digest.as_str(), "size": d.size});
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "artifactType": document.descriptor.media_type,
        "config": d(&empty),
        "layers": [d(&document.descriptor)],
        "subject": d(subject),
    });
    if !annotations.is_empty() {
        m["annotations"] = json!(annotations);
    }
    Ok(Document::new(media::MANIFEST, to_stable_bytes(&m)?))
}

/// The annotations of the index: what the image says about itself, then the user's over them.
pub fn index_annotations(
    described: &Described,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut a = described.annotations();
    a.extend(extra.clone());
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::model::Descriptor;
    use crate::util::digest::Digest;

    fn layer(n: u8) -> Layer {
        Layer {
            blob: Descriptor {
                media_type: media::LAYER_GZIP.into(),
                digest: Digest::of(&[n]),
                size: 1,
            },
            diff_id: Digest::of(&[n, n]),
            created_by: format!("layer {n}"),
            remote: None,
        }
    }

    fn runtime() -> RuntimeConfig {
        RuntimeConfig {
            entrypoint: vec!["/usr/local/bin/app".into()],
            env: vec![("RUST_LOG".into(), "info".into())],
            user: Some("65532".into()),
            labels: [
                ("z".to_string(), "1".to_string()),
                ("a".to_string(), "2".to_string()),
            ]
            .into(),
            ports: vec!["8080/tcp".into()],
            ..Default::default()
        }
    }

    #[test]
    fn scratch_config_has_every_field() {
        let p = Platform::new("linux", "arm", Some("v7"));
        let doc = config(None, &p, &runtime(), &[layer(1), layer(2)], &rfc3339(0)).unwrap();
        let v: Value = serde_json::from_slice(&doc.bytes).unwrap();
        assert_eq!(v["architecture"], "arm");
        assert_eq!(v["variant"], "v7");
        assert_eq!(v["created"], "1970-01-01T00:00:00Z");
        assert_eq!(v["config"]["Env"][0], format!("PATH={DEFAULT_PATH}"));
        assert_eq!(v["config"]["Env"][1], "RUST_LOG=info");
        assert_eq!(v["config"]["User"], "65532");
        assert_eq!(v["config"]["ExposedPorts"]["8080/tcp"], json!({}));
        assert_eq!(v["rootfs"]["diff_ids"][1], Digest::of(&[2, 2]).as_str());
        assert_eq!(v["history"][0]["created_by"], "layer 1");
        // Sorted keys: "a" label before "z".
        let text = String::from_utf8(doc.bytes.clone()).unwrap();
        assert!(text.find("\"a\":\"2\"").unwrap() < text.find("\"z\":\"1\"").unwrap());
    }

    #[test]
    fn base_config_fields_we_do_not_know_survive() {
        let base = json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/bin", "RUST_LOG=warn"], "Cmd": ["sh"], "StopSignal": "SIGTERM"},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:base"]},
            "history": [{"created_by": "base"}],
            "x-vendor": {"keep": true}
        });
        let p = Platform::new("linux", "amd64", None);
        let doc = config(Some(&base), &p, &runtime(), &[layer(1)], "t").unwrap();
        let v: Value = serde_json::from_slice(&doc.bytes).unwrap();
        assert_eq!(v["x-vendor"]["keep"], true);
        assert_eq!(v["config"]["StopSignal"], "SIGTERM");
        assert_eq!(v["config"]["Env"], json!(["PATH=/bin", "RUST_LOG=info"]));
        assert!(
            v["config"].get("Cmd").is_none(),
            "entrypoint resets the base's Cmd"
        );
        assert_eq!(v["rootfs"]["diff_ids"][0], "sha256:base");
        assert_eq!(v["history"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn index_is_stable_and_lists_platforms() {
        let p = Platform::new("linux", "amd64", None);
        let cfg = config(None, &p, &runtime(), &[layer(1)], "t").unwrap();
        let l = layer(1);
        let ann = manifest_annotations(&Described::default(), None, &BTreeMap::new());
        let man = manifest(&cfg, &[&l.blob], &ann).unwrap();
        let img = Image {
            platform: p,
            triple: "x86_64-unknown-linux-musl".into(),
            layers: vec![l],
            config: cfg,
            manifest: man,
        };
        let a: BTreeMap<String, String> = (0..20)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        let i1 = index(std::slice::from_ref(&img), &a, &|_| BTreeMap::new()).unwrap();
        let i2 = index(std::slice::from_ref(&img), &a, &|_| BTreeMap::new()).unwrap();
        assert_eq!(i1, i2);
        let v: Value = serde_json::from_slice(&i1.bytes).unwrap();
        assert_eq!(v["mediaType"], media::INDEX);
        assert_eq!(v["manifests"][0]["platform"]["architecture"], "amd64");
        assert_eq!(v["manifests"][0]["mediaType"], media::MANIFEST);
        let m: Value = serde_json::from_slice(&img.manifest.bytes).unwrap();
        assert_eq!(m["schemaVersion"], 2);
        assert_eq!(m["config"]["mediaType"], media::CONFIG);
        assert_eq!(m["layers"][0]["mediaType"], media::LAYER_GZIP);
    }

    fn pairs(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn annotation_levels_as_buildx_names_them() {
        let a = Annotations::parse(&pairs(&[
            ("plain", "1"),
            ("index:i", "2"),
            ("manifest:m", "3"),
            ("manifest[linux/arm64]:arm", "4"),
            ("manifest-descriptor:d", "5"),
            ("index,manifest[linux/amd64,linux/arm64]:both", "6"),
            ("com.example:x", "7"),
        ]))
        .unwrap();
        let arm = Platform::new("linux", "arm64", None);
        let amd = Platform::new("linux", "amd64", None);
        assert_eq!(
            a.index,
            pairs(&[
                ("plain", "1"),
                ("i", "2"),
                ("both", "6"),
                ("com.example:x", "7")
            ])
        );
        assert_eq!(
            a.for_manifest(&arm),
            pairs(&[
                ("plain", "1"),
                ("m", "3"),
                ("arm", "4"),
                ("both", "6"),
                ("com.example:x", "7")
            ])
        );
        assert!(!a.for_manifest(&amd).contains_key("arm"));
        assert_eq!(a.for_manifest(&amd)["both"], "6");
        assert_eq!(a.for_descriptor(&amd), pairs(&[("d", "5")]));
        assert_eq!(a.platforms().count(), 2);
        for bad in [
            "manifest[linux/nope]:k",
            "index[linux/amd64]:k",
            "manifest:",
        ] {
            let e = Annotations::parse(&pairs(&[(bad, "v")])).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
        for unclosed in [
            "index[:k",
            "manifest[linux/amd64:k",
            "index,manifest[linux/arm64:k",
        ] {
            let e = Annotations::parse(&pairs(&[(unclosed, "v")]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("is not closed"), "{unclosed}: {e}");
        }
        let e = Annotations::parse(&pairs(&[("manifest[linux/amd64]k", "v")])).unwrap_err();
        assert!(e.to_string().contains("cannot be read"), "{e}");
    }

    #[test]
    fn described_values_go_everywhere_and_the_users_win() {
        let d = Described {
            created: "t".into(),
            title: "api".into(),
            version: "1.0.0".into(),
            revision: Some("abc-dirty".into()),
            authors: Some("A <a@example.com>".into()),
            ..Default::default()
        };
        let a = index_annotations(&d, &pairs(&[(annotation::TITLE, "mine")]));
        assert_eq!(a[annotation::TITLE], "mine");
        assert_eq!(a[annotation::REVISION], "abc-dirty");
        assert!(!a.contains_key(annotation::SOURCE));
        let m = manifest_annotations(&d, Some(("base", "sha256:1")), &BTreeMap::new());
        assert_eq!(m[annotation::AUTHORS], "A <a@example.com>");
        assert_eq!(m[annotation::BASE_DIGEST], "sha256:1");
        let l = d.labels(&pairs(&[("x", "y")]));
        assert_eq!(l[annotation::VERSION], "1.0.0");
        assert_eq!(l["x"], "y");
    }
}
