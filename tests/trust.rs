//! Reaching registries the way docker, podman and skopeo are set up to: a registry whose
//! certificate is made exactly as Docker's documentation makes one (self-signed, `CA:TRUE`),
//! trusted through `--registry-ca`, through a `certs.d` directory (the test points
//! `CARGO_IMAGEBUILD_CERTS_D` at its own; the real default paths are docker's and podman's),
//! and with mutual TLS (`client.cert` + `client.key`); `HTTPS_PROXY`/`NO_PROXY` through a
//! loopback CONNECT proxy; and insecure registries declared in podman's `registries.conf`.
//! After each push skopeo reads the result back.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::LazyLock;

use common::proxy::ConnectProxy;
use common::registry::{Kind, Registry};
use common::*;

static DOCS: LazyLock<Registry> = LazyLock::new(|| Registry::start(Kind::SelfSigned));
static MUTUAL: LazyLock<Registry> = LazyLock::new(|| Registry::start(Kind::SelfSignedMutual));

/// Our binary with no credentials, no certs.d, no proxy and no registries.conf from this
/// machine unless a test gives them.
fn imagebuild_clean(work: &Path) -> Command {
    let empty = work.join("nothing");
    std::fs::create_dir_all(&empty).unwrap();
    let mut c = imagebuild();
    c.env("DOCKER_CONFIG", &empty)
        .env("REGISTRY_AUTH_FILE", empty.join("auth.json"))
        .env("CARGO_IMAGEBUILD_CERTS_D", &empty)
        .env("CONTAINERS_REGISTRIES_CONF", empty.join("registries.conf"))
        .env("CARGO_IMAGEBUILD_CACHE", work.join("cache"));
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "XDG_RUNTIME_DIR",
    ] {
        c.env_remove(v);
    }
    c.args(["-p", "server", "--bin", "api", "--platform", "linux/amd64"]);
    c
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Pushes to `repo`, checks the one line printed and that skopeo reads the image back.
fn push_ok(reg: &Registry, c: &mut Command, repo: &str) {
    let out = run_ok(c.args(["--push", "--repository", repo]));
    let s = stdout(&out);
    assert!(
        s.trim().starts_with(&format!("{repo}@sha256:")),
        "stdout is the pushed reference: {s}"
    );
    let index = reg.skopeo_raw(&format!("{repo}:0.3.1"));
    assert_eq!(index["manifests"][0]["platform"]["architecture"], "amd64");
}

/// A certs.d root holding `127.0.0.1:PORT/` with the given files copied in.
fn certs_d(work: &Path, reg: &Registry, files: &[(&Path, &str)]) -> PathBuf {
    let root = work.join("certs.d");
    let dir = root.join(&reg.addr);
    std::fs::create_dir_all(&dir).unwrap();
    for (from, name) in files {
        std::fs::copy(from, dir.join(name)).unwrap();
    }
    root
}

/// (a) Docker's documented certificate given with --registry-ca is trusted as the registry's
/// own; refused without it (the message names the certificate, why, and where we looked,
/// and suggests the flag), and refused for a name it does not carry (`localhost`).
#[test]
fn docker_docs_certificate_with_registry_ca() {
    let reg = &*DOCS;
    let work = tempfile::tempdir().unwrap();
    let crt = reg.ca.clone().unwrap();
    let repo = format!("{}/docs/api", reg.addr);
    push_ok(
        reg,
        imagebuild_clean(work.path()).arg("--registry-ca").arg(&crt),
        &repo,
    );

    let out = imagebuild_clean(work.path())
        .args(["--push", "--repository", &format!("{}/docs/none", reg.addr)])
        .output()
        .unwrap();
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    for want in [
        "CN=imagebuild docs registry",
        "self-signed, CA:TRUE",
        "refused: it is a CA certificate (CA:TRUE), trusted only when given by the user",
        "nothing/127.0.0.1:",
        "--registry-ca FILE",
    ] {
        assert!(all.contains(want), "the message lacks `{want}`:\n{all}");
    }
    assert!(stdout(&out).is_empty());

    // The name is still checked: the certificate is for IP 127.0.0.1, not `localhost`.
    let port = reg.addr.rsplit_once(':').unwrap().1;
    let out = imagebuild_clean(work.path())
        .args([
            "--push",
            "--repository",
            &format!("localhost:{port}/docs/x"),
        ])
        .arg("--registry-ca")
        .arg(&crt)
        .output()
        .unwrap();
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("not valid for the registry's name"), "{all}");
    assert!(
        !all.contains("pass --registry-ca"),
        "a flag the user passed is never suggested again:\n{all}"
    );
}

/// (b) The same certificate found in a certs.d directory (`HOST:PORT/ca.crt`), with no flag.
#[test]
fn docker_docs_certificate_in_certs_d() {
    let reg = &*DOCS;
    let work = tempfile::tempdir().unwrap();
    let root = certs_d(work.path(), reg, &[(&reg.ca.clone().unwrap(), "ca.crt")]);
    push_ok(
        reg,
        imagebuild_clean(work.path()).env("CARGO_IMAGEBUILD_CERTS_D", &root),
        &format!("{}/certsd/api", reg.addr),
    );
}

/// (c) Mutual TLS: the registry demands a client certificate; `client.cert` + `client.key`
/// beside `ca.crt` in certs.d provide it. Without them the handshake is refused.
#[test]
fn mutual_tls_through_certs_d() {
    let reg = &*MUTUAL;
    let work = tempfile::tempdir().unwrap();
    let certs = reg.cert_dir.clone().unwrap();
    let crt = certs.join("ca.crt");
    let root = certs_d(
        work.path(),
        reg,
        &[
            (&crt, "ca.crt"),
            (&certs.join("client.cert"), "client.cert"),
            (&certs.join("client.key"), "client.key"),
        ],
    );
    push_ok(
        reg,
        imagebuild_clean(work.path()).env("CARGO_IMAGEBUILD_CERTS_D", &root),
        &format!("{}/mutual/api", reg.addr),
    );

    let out = imagebuild_clean(work.path())
        .arg("--registry-ca")
        .arg(&crt)
        .args(["--push", "--repository", &format!("{}/mutual/no", reg.addr)])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(stdout(&out).is_empty());
}

/// HTTPS_PROXY: the push goes through a loopback CONNECT proxy; with the registry in
/// NO_PROXY it goes direct (the proxy opens no tunnel).
#[test]
fn https_proxy_and_no_proxy() {
    let reg = &*DOCS;
    let work = tempfile::tempdir().unwrap();
    let proxy = ConnectProxy::start();
    let crt = reg.ca.clone().unwrap();
    push_ok(
        reg,
        imagebuild_clean(work.path())
            .env("HTTPS_PROXY", &proxy.url)
            .arg("--registry-ca")
            .arg(&crt),
        &format!("{}/proxied/api", reg.addr),
    );
    let through = proxy.connects();
    assert!(through >= 1, "the push opened no tunnel through the proxy");

    push_ok(
        reg,
        imagebuild_clean(work.path())
            .env("HTTPS_PROXY", &proxy.url)
            .env("NO_PROXY", "127.0.0.1")
            .arg("--registry-ca")
            .arg(&crt),
        &format!("{}/direct/api", reg.addr),
    );
    assert_eq!(
        proxy.connects(),
        through,
        "with NO_PROXY the push must not go through the proxy"
    );
}

/// An insecure registry declared in podman's registries.conf (`[[registry]] insecure = true`,
/// through CONTAINERS_REGISTRIES_CONF as podman reads it): its certificate is not checked, so
/// the push succeeds with no CA given. The same with `--insecure-registry`.
#[test]
fn insecure_registry_from_registries_conf() {
    let reg = &*DOCS;
    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("registries.conf");
    std::fs::write(
        &conf,
        format!(
            "unqualified-search-registries = []\n[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            reg.addr
        ),
    )
    .unwrap();
    push_ok(
        reg,
        imagebuild_clean(work.path()).env("CONTAINERS_REGISTRIES_CONF", &conf),
        &format!("{}/conf/api", reg.addr),
    );
    push_ok(
        reg,
        imagebuild_clean(work.path()).args(["--insecure-registry", &reg.addr]),
        &format!("{}/flag/api", reg.addr),
    );
}
