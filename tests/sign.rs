//! Signing on push (`--sign-key`) and `cargo imagebuild verify`, against the harness's
//! distribution registry, with keys made by openssl. Each `.sig` image is read back by skopeo
//! and its signature checked by `openssl dgst -verify` over the payload's bytes, with no code
//! of ours in that check; then our `verify` is run with the right key, another key, a tampered
//! signature and an unsigned image. Debian's skopeo 1.9 has sigstore verification compiled out
//! ("Debian-local change: sigstore disabled"): the test pins what it does with a
//! `sigstoreSigned` policy, so a change of that behaviour is noticed.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::LazyLock;

use common::keys::{cosign_key, keypair};
use common::registry::{http_get, put_manifest, Kind, Registry};
use common::*;
use serde_json::Value;

static PLAIN: LazyLock<Registry> = LazyLock::new(|| Registry::start(Kind::Plain));

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Pushes the fixture's `api` for amd64 and arm64 to `repo:1.0`, signed with `key` if given;
/// returns the index digest.
fn push(work: &Path, repo: &str, key: Option<&Path>) -> String {
    let mut c = imagebuild_isolated(work);
    c.args(["-p", "server", "--bin", "api"])
        .args(["--platform", "linux/amd64,linux/arm64"])
        .args(["--push", "-t", &format!("{repo}:1.0")]);
    if let Some(k) = key {
        c.arg("--sign-key").arg(k);
    }
    let out = run_ok(&mut c);
    let s = stdout(&out);
    let line = s.lines().next().unwrap_or_default().to_string();
    line.strip_prefix(&format!("{repo}@"))
        .unwrap_or_else(|| panic!("`{line}` is not {repo}@DIGEST"))
        .to_string()
}

/// The index digest and each platform manifest's digest of `repo@index`.
fn subjects(reg: &Registry, repo: &str, index: &str) -> Vec<String> {
    let v = reg.skopeo_raw(&format!("{repo}@{index}"));
    let mut all = vec![index.to_string()];
    for m in v["manifests"].as_array().unwrap() {
        all.push(m["digest"].as_str().unwrap().to_string());
    }
    assert_eq!(all.len(), 3, "an index over two platforms: {v}");
    all
}

fn sig_tag(digest: &str) -> String {
    format!("sha256-{}.sig", digest.strip_prefix("sha256:").unwrap())
}

/// A blob's bytes, over plain HTTP from the harness registry.
fn blob(reg: &Registry, repository: &str, digest: &str) -> Vec<u8> {
    let (status, body) = http_get(&reg.addr, &format!("/v2/{repository}/blobs/{digest}"))
        .expect("the registry answers");
    assert_eq!(status, 200, "GET blob {digest}: {body}");
    body.into_bytes()
}

fn verify(key: &Path, reference: &str) -> Output {
    let mut c = imagebuild();
    c.args(["verify", reference, "--key"]).arg(key);
    c.output().unwrap()
}

/// `skopeo copy` of `reference` into a layout, under a policy that wants a sigstore signature
/// by `key` for this registry (`use-sigstore-attachments` on in `registries.d`).
fn skopeo_copy_with_policy(reg: &Registry, reference: &str, key: &Path, work: &Path) -> Output {
    let policy = work.join("policy.json");
    let policy_doc = serde_json::json!({
        "default": [{"type": "reject"}],
        "transports": {"docker": {reg.addr.clone(): [{
            "type": "sigstoreSigned",
            "keyPath": key,
            "signedIdentity": {"type": "matchRepoDigestOrExact"},
        }]}},
    });
    std::fs::write(&policy, serde_json::to_vec(&policy_doc).unwrap()).unwrap();
    let regd = work.join("registries.d");
    std::fs::create_dir_all(&regd).unwrap();
    std::fs::write(
        regd.join("local.yaml"),
        format!(
            "docker:\n  {}:\n    use-sigstore-attachments: true\n",
            reg.addr
        ),
    )
    .unwrap();
    let dest = work.join(format!("copy-{}", std::process::id()));
    let mut c = Command::new(require("skopeo"));
    c.arg("--policy")
        .arg(&policy)
        .arg("--registries.d")
        .arg(&regd)
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .arg(format!("oci:{}:x", dest.display()));
    let out = c.output().unwrap();
    let _ = std::fs::remove_dir_all(&dest);
    out
}

/// A signed two-platform push: every `.sig` layer verifies with openssl over its payload, which
/// names the digest and the repository; `verify` accepts the right key and refuses another,
/// a tampered signature and an unsigned image.
#[test]
fn signed_push_verifies_with_openssl_and_verify_refuses_wrong_tampered_and_unsigned() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let (key, public) = keypair(work.path(), "cosign");
    let (_, other) = keypair(work.path(), "other");
    let repository = "signed/api";
    let repo = format!("{}/{repository}", reg.addr);
    let index = push(work.path(), &repo, Some(&key));

    for digest in subjects(reg, &repo, &index) {
        let sig = reg.skopeo_raw(&format!("{repo}:{}", sig_tag(&digest)));
        assert_eq!(
            sig["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(
            sig["config"]["mediaType"],
            "application/vnd.oci.image.config.v1+json"
        );
        let layers = sig["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1, "{sig}");
        let layer = &layers[0];
        assert_eq!(
            layer["mediaType"],
            "application/vnd.dev.cosign.simplesigning.v1+json"
        );
        let payload = blob(reg, repository, layer["digest"].as_str().unwrap());
        let claim: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            claim,
            serde_json::json!({
                "critical": {
                    "identity": {"docker-reference": repo},
                    "image": {"docker-manifest-digest": digest},
                    "type": "cosign container image signature",
                },
                "optional": null,
            })
        );
        let b64 = layer["annotations"]["dev.cosignproject.cosign/signature"]
            .as_str()
            .unwrap();
        let der = decode_base64(b64);
        let (p, s) = (work.path().join("payload"), work.path().join("sig.der"));
        std::fs::write(&p, &payload).unwrap();
        std::fs::write(&s, &der).unwrap();
        let out = run_ok(
            Command::new(require("openssl"))
                .args(["dgst", "-sha256", "-verify"])
                .arg(&public)
                .arg("-signature")
                .arg(&s)
                .arg(&p),
        );
        assert_eq!(stdout(&out).trim(), "Verified OK");
    }

    for digest in &subjects(reg, &repo, &index)[1..] {
        check_attestations(reg, repository, &repo, digest, &public, work.path());
    }

    // Our verify: the right key passes, naming the index and both platforms, and each
    // platform's SBOM and provenance attestation.
    let reference = format!("{repo}:1.0");
    let out = verify(&public, &reference);
    assert!(out.status.success(), "{}", text(&out));
    let said = stdout(&out);
    for want in [
        "Verified index",
        "Verified linux/amd64",
        "Verified linux/arm64",
        "Verified linux/amd64 attestation https://spdx.dev/Document",
        "Verified linux/arm64 attestation https://slsa.dev/provenance/v1",
    ] {
        assert!(said.contains(want), "{want}: {said}");
    }
    assert!(said.contains(&index), "{said}");
    // Another key fails.
    let out = verify(&other, &reference);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("no valid signature for the key") && text(&out).contains("help:"),
        "{}",
        text(&out)
    );
    // A private key given to --key is refused, naming the fix.
    let out = verify(&key, &reference);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("verifying takes the public one"),
        "{}",
        text(&out)
    );

    // An attestation dropped: the amd64 `.att` image re-pushed without its provenance layer.
    let amd = subjects(reg, &repo, &index)[1].clone();
    let att = att_tag(&amd);
    let original = reg.skopeo_raw(&format!("{repo}:{att}"));
    let mut image = original.clone();
    image["layers"]
        .as_array_mut()
        .unwrap()
        .retain(|l| l["annotations"]["predicateType"] != "https://slsa.dev/provenance/v1");
    let status = put_manifest(
        &reg.addr,
        &format!("/v2/{repository}/manifests/{att}"),
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&image).unwrap(),
    );
    assert_eq!(status, 201);
    let out = verify(&public, &reference);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("linux/amd64")
            && text(&out).contains("application/vnd.in-toto+json has no attestation"),
        "{}",
        text(&out)
    );
    let status = put_manifest(
        &reg.addr,
        &format!("/v2/{repository}/manifests/{att}"),
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&original).unwrap(),
    );
    assert_eq!(status, 201);
    assert!(verify(&public, &reference).status.success(), "restored");
    // An unsigned push of the amd64 image alone attaches a provenance of its own to the same
    // manifest (its settings name one platform): the signed attestations still verify.
    run_ok(
        imagebuild_isolated(work.path())
            .args([
                "-q",
                "-p",
                "server",
                "--bin",
                "api",
                "--platform",
                "linux/amd64",
            ])
            .args(["--push", "-t", &format!("{repo}:amd64")]),
    );
    assert_eq!(
        attached(reg, repository, &repo, &amd).len(),
        3,
        "a second provenance is attached to the amd64 manifest"
    );
    let out = verify(&public, &reference);
    assert!(out.status.success(), "{}", text(&out));

    // Tampered: the arm64 signature image re-pushed with another (valid base64) signature.
    let arm = subjects(reg, &repo, &index)[2].clone();
    let tag = sig_tag(&arm);
    let mut sig = reg.skopeo_raw(&format!("{repo}:{tag}"));
    let b64 = sig["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap()
        .to_string();
    let mut der = decode_base64(&b64);
    let last = der.len() - 1;
    der[last] ^= 0x01;
    sig["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] =
        Value::String(encode_base64(&der));
    let status = put_manifest(
        &reg.addr,
        &format!("/v2/{repository}/manifests/{tag}"),
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&sig).unwrap(),
    );
    assert_eq!(status, 201);
    let out = verify(&public, &reference);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("linux/arm64") && text(&out).contains("does not verify"),
        "{}",
        text(&out)
    );

    // Unsigned: a push without a key, then verify says there is no signature.
    let unsigned = format!("{}/unsigned/api", reg.addr);
    push(work.path(), &unsigned, None);
    let out = verify(&public, &format!("{unsigned}:1.0"));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no signature"), "{}", text(&out));
}

/// `openssl dgst -sha256 -verify` of `signature` (DER) over `payload` with the public key.
fn openssl_verifies(work: &Path, public: &Path, payload: &[u8], signature: &[u8]) -> bool {
    let (p, s) = (work.join("payload.bin"), work.join("signature.der"));
    std::fs::write(&p, payload).unwrap();
    std::fs::write(&s, signature).unwrap();
    let out = Command::new(require("openssl"))
        .args(["dgst", "-sha256", "-verify"])
        .arg(public)
        .arg("-signature")
        .arg(&s)
        .arg(&p)
        .output()
        .unwrap();
    out.status.success() && stdout(&out).trim() == "Verified OK"
}

/// The (payload, DER signature) of each simple-signing layer of `repo:tag`.
fn signature_layers(
    reg: &Registry,
    repository: &str,
    repo: &str,
    tag: &str,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let sig = reg.skopeo_raw(&format!("{repo}:{tag}"));
    let config = blob(reg, repository, sig["config"]["digest"].as_str().unwrap());
    let config: Value = serde_json::from_slice(&config).unwrap();
    let layers = sig["layers"].as_array().unwrap();
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    assert_eq!(
        config["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        diff_ids,
        "the config lists each layer, as cosign's does"
    );
    layers
        .iter()
        .map(|l| {
            let b64 = l["annotations"]["dev.cosignproject.cosign/signature"]
                .as_str()
                .unwrap();
            (
                blob(reg, repository, l["digest"].as_str().unwrap()),
                decode_base64(b64),
            )
        })
        .collect()
}

/// Each `.sig` image of `repo@index` (the index and both platforms) lists one signature per
/// key of `keys`, in that order, each verified by openssl with its own key only; `verify`
/// passes with each key.
fn signed_by(
    reg: &Registry,
    repository: &str,
    repo: &str,
    index: &str,
    work: &Path,
    keys: &[&Path],
) {
    for digest in subjects(reg, repo, index) {
        let layers = signature_layers(reg, repository, repo, &sig_tag(&digest));
        assert_eq!(
            layers.len(),
            keys.len(),
            "one signature per key, none twice"
        );
        for (i, (payload, signature)) in layers.iter().enumerate() {
            for (j, key) in keys.iter().enumerate() {
                assert_eq!(
                    openssl_verifies(work, key, payload, signature),
                    i == j,
                    "layer {i} is signed by key {j} only"
                );
            }
        }
    }
    for key in keys {
        let out = verify(key, &format!("{repo}:1.0"));
        assert!(out.status.success(), "{}", text(&out));
    }
}

/// Signing an image that another key signed already adds a layer to each `.sig` image, as
/// cosign does, instead of replacing it: both signatures verify with openssl, each under its
/// own key, and `verify` passes with either key. Signing again with the same key adds nothing.
#[test]
fn a_second_key_adds_its_signature_and_keeps_the_first() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let (first, first_pub) = keypair(work.path(), "first");
    let (second, second_pub) = keypair(work.path(), "second");
    let repository = "twice/api";
    let repo = format!("{}/{repository}", reg.addr);
    let index = push(work.path(), &repo, Some(&first));
    assert_eq!(push(work.path(), &repo, Some(&second)), index);
    assert_eq!(push(work.path(), &repo, Some(&first)), index);
    signed_by(
        reg,
        repository,
        &repo,
        &index,
        work.path(),
        &[&first_pub, &second_pub],
    );
}

/// cosign's encrypted keys, made by Python from the documented format: a push signed with one
/// (`ENCRYPTED SIGSTORE PRIVATE KEY`, the password from COSIGN_PASSWORD) verifies with openssl
/// and `verify`; one of the older label (`ENCRYPTED COSIGN PRIVATE KEY`) adds its signature;
/// a wrong or missing password is refused before compiling, naming the file and the fix,
/// never printing the password.
#[test]
fn cosign_encrypted_keys_sign_and_a_wrong_password_is_refused() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let (pem, public) = keypair(work.path(), "new");
    let key = work.path().join("new.key");
    cosign_key(&pem, &key, "s3cret-pw", "ENCRYPTED SIGSTORE PRIVATE KEY");
    let (old_pem, old_public) = keypair(work.path(), "old");
    let old = work.path().join("old.key");
    cosign_key(&old_pem, &old, "", "ENCRYPTED COSIGN PRIVATE KEY");
    let repository = "cosignkey/api";
    let repo = format!("{}/{repository}", reg.addr);
    let push_with = |key: &Path, password: Option<&str>| {
        let mut c = imagebuild_isolated(work.path());
        c.args(["-p", "server", "--bin", "api"])
            .args(["--platform", "linux/amd64,linux/arm64"])
            .args(["--push", "-t", &format!("{repo}:1.0"), "--sign-key"])
            .arg(key);
        match password {
            Some(p) => c.env("COSIGN_PASSWORD", p),
            None => c.env_remove("COSIGN_PASSWORD"),
        };
        c.output().unwrap()
    };
    for (password, says) in [
        (Some("wrong-pw"), "COSIGN_PASSWORD does not decrypt it"),
        (None, "COSIGN_PASSWORD is not set"),
    ] {
        let out = push_with(&key, password);
        let said = text(&out);
        assert!(!out.status.success(), "{said}");
        assert!(said.contains(says), "{said}");
        assert!(
            said.contains(&key.display().to_string()) && said.contains("help:"),
            "{said}"
        );
        assert!(
            !said.contains("Compiling"),
            "refused before compiling: {said}"
        );
        assert!(
            !said.contains("wrong-pw") && !said.contains("s3cret-pw"),
            "{said}"
        );
    }
    assert!(
        reg.requests(repository).is_empty(),
        "nothing reached the registry"
    );

    let out = push_with(&key, Some("s3cret-pw"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("s3cret-pw"));
    let index = stdout(&out)
        .lines()
        .next()
        .unwrap()
        .rsplit_once('@')
        .unwrap()
        .1
        .to_string();
    let out = push_with(&old, Some(""));
    assert!(
        out.status.success(),
        "an empty password opens a key made with none: {}",
        text(&out)
    );
    signed_by(
        reg,
        repository,
        &repo,
        &index,
        work.path(),
        &[&public, &old_public],
    );
}

/// `merge --push --sign-key`: the index merged from two per-platform layouts (signed ones, whose
/// cosign images merge skips) is signed with its platform manifests as a build's push is;
/// openssl verifies every `.sig`, the attestations hold, and `verify` passes.
#[test]
fn merge_push_signs_the_merged_index() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let (key, public) = keypair(work.path(), "cosign");
    let dist = work.path().join("dist");
    for (dir, platform) in [("amd64", "linux/amd64"), ("arm64", "linux/arm64")] {
        run_ok(
            imagebuild_isolated(work.path())
                .args(["-q", "-p", "server", "--bin", "api", "--platform", platform])
                .arg("--output")
                .arg(format!("type=oci,dest={}", dist.join(dir).display()))
                // Signed layouts: merge reads past their cosign images.
                .arg("--sign-key")
                .arg(&key),
        );
    }
    let repository = "merged/api";
    let repo = format!("{}/{repository}", reg.addr);
    let out = run_ok(
        imagebuild_isolated(work.path())
            .arg("merge")
            .arg(dist.join("amd64"))
            .arg(dist.join("arm64"))
            .args(["--push", "-t", &format!("{repo}:1.0"), "--sign-key"])
            .arg(&key),
    );
    let index = stdout(&out)
        .lines()
        .next()
        .unwrap()
        .rsplit_once('@')
        .unwrap()
        .1
        .to_string();
    for digest in subjects(reg, &repo, &index) {
        let layers = signature_layers(reg, repository, &repo, &sig_tag(&digest));
        assert_eq!(layers.len(), 1);
        let claim: Value = serde_json::from_slice(&layers[0].0).unwrap();
        assert_eq!(
            claim["critical"]["image"]["docker-manifest-digest"],
            digest.as_str()
        );
        assert_eq!(
            claim["critical"]["identity"]["docker-reference"],
            repo.as_str()
        );
        assert!(openssl_verifies(
            work.path(),
            &public,
            &layers[0].0,
            &layers[0].1
        ));
    }
    for digest in &subjects(reg, &repo, &index)[1..] {
        check_attestations(reg, repository, &repo, digest, &public, work.path());
    }
    let out = verify(&public, &format!("{repo}:1.0"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("Verified index"), "{}", text(&out));
}

/// `--output type=oci,dest=DIR --sign-key`: the layout lists a `.sig` image for the index and
/// each platform and an `.att` image for each platform, by ref name, with cosign's `kind`
/// annotation; openssl verifies each signature from the layout's blobs; `verify oci:DIR`
/// passes with the key and fails with another; a second key's build into the same layout adds
/// its signature; and skopeo, copying the image and its cosign tags by name, carries them to a
/// registry, where `verify` passes too.
#[test]
fn a_signed_layout_lists_its_signatures_and_skopeo_carries_them() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let (key, public) = keypair(work.path(), "cosign");
    let (other, other_public) = keypair(work.path(), "other");
    let dir = work.path().join("layout");
    let repository = "laid/api";
    let repo = format!("{}/{repository}", reg.addr);
    let build = |key: &Path| {
        run_ok(
            imagebuild_isolated(work.path())
                .args(["-q", "-p", "server", "--bin", "api"])
                .args([
                    "--platform",
                    "linux/amd64,linux/arm64",
                    "-t",
                    &format!("{repo}:1.0"),
                ])
                .arg("--output")
                .arg(format!("type=oci,dest={}", dir.display()))
                .arg("--sign-key")
                .arg(key),
        )
    };
    build(&key);
    validate_layout(&dir);
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    let named = |tag: &str| {
        entries
            .iter()
            .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .unwrap_or_else(|| panic!("index.json lists {tag}: {index}"))
            .clone()
    };
    let top = named("1.0");
    let top_digest = top["digest"].as_str().unwrap().to_string();
    let read = |digest: &str| std::fs::read(dir.join("blobs/sha256").join(&digest[7..])).unwrap();
    let image: Value = serde_json::from_slice(&read(&top_digest)).unwrap();
    let mut subjects = vec![top_digest.clone()];
    for m in image["manifests"].as_array().unwrap() {
        subjects.push(m["digest"].as_str().unwrap().to_string());
    }
    let mut cosign_tags = Vec::new();
    for (i, digest) in subjects.iter().enumerate() {
        let entry = named(&sig_tag(digest));
        assert_eq!(
            entry["annotations"]["kind"],
            "dev.cosignproject.cosign/sigs"
        );
        let sig: Value = serde_json::from_slice(&read(entry["digest"].as_str().unwrap())).unwrap();
        let layer = &sig["layers"][0];
        let payload = read(layer["digest"].as_str().unwrap());
        let der = decode_base64(
            layer["annotations"]["dev.cosignproject.cosign/signature"]
                .as_str()
                .unwrap(),
        );
        assert!(openssl_verifies(work.path(), &public, &payload, &der));
        let claim: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            claim["critical"]["image"]["docker-manifest-digest"],
            digest.as_str()
        );
        cosign_tags.push(sig_tag(digest));
        if i > 0 {
            let att = named(&att_tag(digest));
            assert_eq!(att["annotations"]["kind"], "dev.cosignproject.cosign/atts");
            cosign_tags.push(att_tag(digest));
        }
    }
    let layout_ref = format!("oci:{}", dir.display());
    let out = verify(&public, &layout_ref);
    assert!(out.status.success(), "{}", text(&out));
    for want in [
        "Verified index",
        "Verified linux/arm64 attestation https://spdx.dev/Document",
        "Verified linux/amd64 attestation https://slsa.dev/provenance/v1",
    ] {
        assert!(stdout(&out).contains(want), "{want}: {}", text(&out));
    }
    let out = verify(&other_public, &format!("{layout_ref}:1.0"));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("no valid signature for the key"),
        "{}",
        text(&out)
    );

    // The other key's build into the same layout: its signature is added beside the first.
    build(&other);
    validate_layout(&dir);
    for public in [&public, &other_public] {
        let out = verify(public, &layout_ref);
        assert!(out.status.success(), "{}", text(&out));
    }

    // skopeo carries the image and, by ref name, its cosign images.
    let skopeo = require("skopeo");
    for tag in std::iter::once("1.0".to_string()).chain(cosign_tags) {
        run_ok(
            Command::new(&skopeo)
                .args(["copy", "--all", "--dest-tls-verify=false"])
                .arg(format!("oci:{}:{tag}", dir.display()))
                .arg(format!("docker://{repo}:{tag}")),
        );
    }
    // The referrers (unsigned SBOM and provenance) are not carried by skopeo: `verify` finds
    // none to check, and checks every signature.
    let out = verify(&public, &format!("{repo}:1.0"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("Verified linux/arm64"),
        "{}",
        text(&out)
    );
    let sigs = reg.skopeo_raw(&format!("{repo}:{}", sig_tag(&top_digest)));
    assert_eq!(
        sigs["layers"].as_array().unwrap().len(),
        2,
        "both keys' signatures"
    );
}

/// Debian's skopeo 1.9 with a `sigstoreSigned` policy: the unsigned image is refused because
/// no signature exists; for the signed one skopeo finds our signature and stops at the
/// verification step Debian compiled out ("sigstore disabled"), the README's documented
/// limitation. Both are refusals, but for different reasons: the signed image gets further.
#[test]
fn debian_skopeo_sigstore_policy_refuses_unsigned_and_reaches_the_disabled_step_for_signed() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let (key, public) = keypair(work.path(), "cosign");
    let signed = format!("{}/skopeo-signed/api", reg.addr);
    let unsigned = format!("{}/skopeo-unsigned/api", reg.addr);
    let index = push(work.path(), &signed, Some(&key));
    push(work.path(), &unsigned, None);

    let out = skopeo_copy_with_policy(reg, &format!("{unsigned}:1.0"), &public, work.path());
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("A signature was required, but no signature exists"),
        "{said}"
    );

    let out = skopeo_copy_with_policy(reg, &format!("{signed}@{index}"), &public, work.path());
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("sigstore disabled"), "{said}");
    assert!(!said.contains("no signature exists"), "{said}");
}

/// A key that cannot be used stops the build before cargo runs, naming the file and the fix,
/// never printing the key's bytes; nothing is pushed.
#[test]
fn unusable_sign_keys_are_refused_before_compiling() {
    let reg = &*PLAIN;
    let work = tempfile::tempdir().unwrap();
    let rsa = work.path().join("rsa.pem");
    run_ok(Command::new(require("openssl")).args([
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:1024",
        "-out",
        rsa.to_str().unwrap(),
    ]));
    let rsa_text = std::fs::read_to_string(&rsa).unwrap();
    let secret_line = rsa_text.lines().nth(1).unwrap().to_string();
    let missing = work.path().join("absent.pem");
    let repo = format!("{}/badkey/api", reg.addr);
    for (key, says) in [
        (&missing, "cannot read it"),
        (&rsa, "not an ECDSA P-256 one"),
    ] {
        let mut c = imagebuild_isolated(work.path());
        c.args(["-p", "server", "--bin", "api", "--push", "-t", &repo])
            .arg("--sign-key")
            .arg(key);
        let out = c.output().unwrap();
        let said = text(&out);
        assert!(!out.status.success(), "{said}");
        assert!(said.contains(says), "{said}");
        assert!(said.contains(&key.display().to_string()), "{said}");
        assert!(
            said.contains("help:") && said.contains("openssl genpkey"),
            "{said}"
        );
        assert!(
            !said.contains("Compiling"),
            "refused before compiling: {said}"
        );
        assert!(
            !said.contains(&secret_line),
            "the key's bytes are never printed"
        );
    }
    // The same from the environment variable, which names itself.
    let mut c = imagebuild_isolated(work.path());
    c.args(["-p", "server", "--bin", "api", "--push", "-t", &repo])
        .env("CARGO_IMAGEBUILD_SIGN_KEY", &missing);
    let said = text(&c.output().unwrap());
    assert!(said.contains("CARGO_IMAGEBUILD_SIGN_KEY"), "{said}");
    assert!(
        reg.requests("badkey/api").is_empty(),
        "nothing reached the registry"
    );
}

fn att_tag(digest: &str) -> String {
    format!("sha256-{}.att", digest.strip_prefix("sha256:").unwrap())
}

/// The documents attached to `subject` (artifact type, parsed document), read through the
/// referrers tag schema (the harness registry has no referrers API).
fn attached(reg: &Registry, repository: &str, repo: &str, subject: &str) -> Vec<(String, Value)> {
    let listed = reg.skopeo_raw(&format!("{repo}:{}", subject.replacen(':', "-", 1)));
    listed["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let artifact = reg.skopeo_raw(&format!("{repo}@{}", r["digest"].as_str().unwrap()));
            let layer = artifact["layers"][0]["digest"].as_str().unwrap();
            let doc: Value = serde_json::from_slice(&blob(reg, repository, layer)).unwrap();
            (r["artifactType"].as_str().unwrap().to_string(), doc)
        })
        .collect()
}

/// The `.att` image of the platform manifest `digest` holds one DSSE envelope per attached
/// document, in cosign's layout; openssl verifies each signature over the PAE bytes (made
/// here from the DSSE spec), and each statement is about `digest` and says what the attached
/// document says: an SBOM is its predicate, the provenance statement is the statement itself.
fn check_attestations(
    reg: &Registry,
    repository: &str,
    repo: &str,
    digest: &str,
    public: &Path,
    work: &Path,
) {
    let image = reg.skopeo_raw(&format!("{repo}:{}", att_tag(digest)));
    assert_eq!(
        image["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let mut statements = Vec::new();
    for layer in image["layers"].as_array().unwrap() {
        assert_eq!(layer["mediaType"], "application/vnd.dsse.envelope.v1+json");
        assert_eq!(
            layer["annotations"]["dev.cosignproject.cosign/signature"],
            ""
        );
        let envelope: Value =
            serde_json::from_slice(&blob(reg, repository, layer["digest"].as_str().unwrap()))
                .unwrap();
        let payload_type = envelope["payloadType"].as_str().unwrap();
        assert_eq!(payload_type, "application/vnd.in-toto+json");
        let payload = decode_base64(envelope["payload"].as_str().unwrap());
        let mut pae = format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            payload.len()
        )
        .into_bytes();
        pae.extend_from_slice(&payload);
        let signatures = envelope["signatures"].as_array().unwrap();
        assert_eq!(signatures.len(), 1);
        let sig = decode_base64(signatures[0]["sig"].as_str().unwrap());
        assert!(
            openssl_verifies(work, public, &pae, &sig),
            "openssl verifies the envelope"
        );
        let statement: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"],
            digest.strip_prefix("sha256:").unwrap()
        );
        assert_eq!(
            statement["predicateType"],
            layer["annotations"]["predicateType"]
        );
        statements.push(statement);
    }
    let docs = attached(reg, repository, repo, digest);
    let mut kinds: Vec<&str> = docs.iter().map(|(k, _)| k.as_str()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["application/spdx+json", "application/vnd.in-toto+json"]
    );
    assert_eq!(
        statements.len(),
        docs.len(),
        "one attestation per attached document"
    );
    for (kind, doc) in docs {
        let found = if kind == "application/spdx+json" {
            statements
                .iter()
                .any(|s| s["predicateType"] == "https://spdx.dev/Document" && s["predicate"] == doc)
        } else {
            statements.contains(&doc)
        };
        assert!(
            found,
            "{kind}: the attestation says what the attached document says"
        );
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let out = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

fn encode_base64(b: &[u8]) -> String {
    common::token::base64_std(b)
}
