//! Image documents: the config, the manifest and the index, serialized to stable bytes.
//!
//! The config is edited as a `serde_json::Value` so a base image's fields we do not model are
//! kept byte for byte; manifests and indexes are built with oci-spec's types. Everything goes
//! through `serde_json::Value` before it becomes bytes, whose maps are sorted, so the same inputs
//! give the same digests (oci-spec's own maps are `HashMap`s).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use crate::image::model::{annotation, media, Document, Image, Layer};
use crate::image::platform::Platform;

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

/// The manifest over `base_layers` then `layers`, with `config`.
pub fn manifest(
    config: &Document,
    layers: &[&crate::image::model::Descriptor],
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
    Ok(Document::new(media::MANIFEST, to_stable_bytes(&m)?))
}

/// The index listing one manifest per image, each with its platform.
pub fn index(images: &[Image], annotations: &BTreeMap<String, String>) -> Result<Document> {
    let manifests = images
        .iter()
        .map(|img| {
            let mut d = img.manifest.descriptor.to_oci();
            d.set_platform(Some(img.platform.to_oci()));
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
    Ok(Document::new(media::INDEX, to_stable_bytes(&idx)?))
}

/// Annotations every manifest carries: creation time and, for a registry base, its name and digest.
pub fn manifest_annotations(
    created: &str,
    base: Option<(&str, &str)>,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert(annotation::CREATED.to_string(), created.to_string());
    if let Some((name, digest)) = base {
        a.insert(annotation::BASE_NAME.to_string(), name.to_string());
        a.insert(annotation::BASE_DIGEST.to_string(), digest.to_string());
    }
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
        let ann = manifest_annotations("t", None, &BTreeMap::new());
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
        let i1 = index(std::slice::from_ref(&img), &a).unwrap();
        let i2 = index(std::slice::from_ref(&img), &a).unwrap();
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
}
