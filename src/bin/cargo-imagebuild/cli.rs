//! The command line: clap definitions in cargo's conventions, and their translation into the
//! library's [`Options`] (and the options of each subcommand), so nothing in the library sees
//! clap. What only concerns how the run is shown (`-v`, `-q`, `--progress`,
//! `--message-format`, `--dry-run`) stays here, in a [`View`].

// The `///` comments of the argument types are clap's `--help` text, written for a terminal
// (`[,platform=P]`, `<bin>`), not rustdoc markup.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{ArgAction, Args, Parser, Subcommand};

use cargo_imagebuild::commands::doctor::DoctorOptions;
use cargo_imagebuild::commands::init::{Ci, InitOptions};
use cargo_imagebuild::commands::resolve::ResolveOptions;
use cargo_imagebuild::commands::run::{RunFlags, RunOptions};
use cargo_imagebuild::commands::sbom::SbomOptions;
use cargo_imagebuild::commands::verify::VerifyOptions;
use cargo_imagebuild::{
    Builder, CompressionKind, Environment, FeatureArgs, ImageSettings, MergeOptions, Options,
    PlatformChoice, Port, RegistryOptions, SbomFormat, Strip, Tag,
};

use crate::terminal::{MessageFormat, Progress, Verbosity};

/// `cargo imagebuild`: cargo passes the subcommand name as the first argument.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap_cargo::style::CLAP_STYLING)]
pub enum CargoCli {
    Imagebuild(ImagebuildArgs),
}

/// Build OCI container images from the binaries of a Rust workspace, for many platforms, with no
/// Docker daemon.
///
/// With no --output, each binary's image goes to target/imagebuild/<bin>/ as an OCI layout, and
/// the index digest and each platform's manifest digest are printed on stdout.
///
/// Images run as user 65532 (nonroot) unless the base or the `user` setting says otherwise; that
/// user cannot bind ports below 1024: listen on 8080 (or set user = "0").
///
/// Settings often set per pipeline can come from the environment (a flag wins over its
/// variable, both win over Cargo.toml): CARGO_IMAGEBUILD_PLATFORMS, CARGO_IMAGEBUILD_BASE,
/// CARGO_IMAGEBUILD_GLIBC,
/// CARGO_IMAGEBUILD_TAGS (comma list), CARGO_IMAGEBUILD_PUSH=true and CARGO_IMAGEBUILD_REPO (a
/// repository prefix, PREFIX/<bin>, used when no `repository` is configured).
#[derive(Debug, Args)]
#[command(version, about, long_about)]
pub struct ImagebuildArgs {
    #[command(subcommand)]
    pub command: Option<ImagebuildCommand>,

    #[command(flatten)]
    pub manifest: clap_cargo::Manifest,
    #[command(flatten)]
    pub workspace: clap_cargo::Workspace,
    #[command(flatten)]
    pub features: clap_cargo::Features,

    /// Build only the named binary (repeatable); default: every binary of the selected packages
    #[arg(long = "bin", value_name = "NAME", help_heading = "Target Selection")]
    pub bins: Vec<String>,

    /// Build with the given cargo profile
    #[arg(
        long,
        value_name = "PROFILE-NAME",
        default_value = "release",
        help_heading = "Compilation Options"
    )]
    pub profile: String,

    /// Build for the Rust target triple (repeatable); its OCI platform is derived
    #[arg(
        long = "target",
        value_name = "TRIPLE",
        help_heading = "Compilation Options"
    )]
    pub targets: Vec<String>,

    /// Build for the OCI platforms (repeatable, comma lists): linux/amd64,linux/arm64
    /// [env: CARGO_IMAGEBUILD_PLATFORMS=]
    #[arg(
        long = "platform",
        value_name = "LIST",
        help_heading = "Compilation Options"
    )]
    pub platforms: Vec<String>,

    /// Extra cargo `--config KEY=VALUE` settings, passed to every cargo build
    #[arg(
        long = "config",
        value_name = "KEY=VALUE",
        help_heading = "Compilation Options"
    )]
    pub cargo_config: Vec<String>,

    /// Build every target with this: cargo, zigbuild or cross (default: chosen per target)
    #[arg(long, value_name = "BUILDER", value_parser = parse_builder, help_heading = "Compilation Options")]
    pub builder: Option<Builder>,

    /// Install what a target's route lacks (the Debian cross gcc: apt-get, as root or with
    /// sudo) instead of refusing, and say what was installed; default: nothing is installed
    /// [env: CARGO_IMAGEBUILD_INSTALL=auto]
    #[arg(long, help_heading = "Compilation Options")]
    pub install_missing: bool,

    /// Link gnu targets dynamically against this glibc (2.N, such as 2.31: the base's own, or
    /// older), with zig and no cross gcc; default: glibc linked statically. Also `glibc` in
    /// [package/workspace.metadata.imagebuild] [env: CARGO_IMAGEBUILD_GLIBC=]
    #[arg(long, value_name = "VERSION", help_heading = "Compilation Options")]
    pub glibc: Option<String>,

    /// Base image: `scratch` (default) or an image reference such as
    /// gcr.io/distroless/static-debian12 (our layers go on top of its layers)
    /// [env: CARGO_IMAGEBUILD_BASE=]
    #[arg(long, value_name = "IMAGE", help_heading = "Image")]
    pub base: Option<String>,

    /// Name and tag (repeatable), as in docker build: NAME[:TAG] (api:dev,
    /// ghcr.io/acme/api:1.4.0; no tag means latest), or :TAG for a tag of the configured
    /// repository (:1.4.0); default: the package version [env: CARGO_IMAGEBUILD_TAGS=]
    #[arg(
        short = 't',
        long = "tag",
        value_name = "NAME[:TAG]",
        value_delimiter = ',',
        help_heading = "Image"
    )]
    pub tags: Vec<String>,

    /// Image repository; `{bin}` is replaced by the binary's name (without it and without a
    /// `repository` setting: CARGO_IMAGEBUILD_REPO=PREFIX gives PREFIX/<bin>)
    #[arg(long, value_name = "REPO", help_heading = "Image")]
    pub repository: Option<String>,

    /// Layer compression: gzip (default), zstd or none
    #[arg(long, value_name = "ALGORITHM", help_heading = "Image")]
    pub compression: Option<String>,

    /// Compression level (gzip 0-9, zstd 1-22)
    #[arg(long, value_name = "N", help_heading = "Image")]
    pub compression_level: Option<i32>,

    /// What the compiler strips from the binary: none, debuginfo or symbols (default: symbols,
    /// the smallest image); passed to cargo as a profile override, your own builds unchanged
    #[arg(long, value_name = "WHAT", value_parser = parse_strip, help_heading = "Image")]
    pub strip: Option<Strip>,

    /// Config label (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE", help_heading = "Image")]
    pub labels: Vec<String>,

    /// Annotation (repeatable): KEY=VALUE goes on the index and every manifest; buildx's level
    /// prefixes choose: index:K=V, manifest:K=V, manifest[linux/arm64]:K=V,
    /// manifest-descriptor:K=V (several joined with commas: index,manifest:K=V)
    #[arg(long = "annotation", value_name = "KEY=VALUE", help_heading = "Image")]
    pub annotations: Vec<String>,

    /// Environment variable in the image (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE", help_heading = "Image")]
    pub env: Vec<String>,

    /// Exposed port (repeatable): 8080 or 53/udp
    #[arg(long = "port", value_name = "PORT", help_heading = "Image")]
    pub ports: Vec<String>,

    /// Where the images go, in buildx's words: type=oci,dest=DIR | type=oci,dest=FILE,tar=true |
    /// type=docker[,dest=FILE][,platform=P] | type=containerd[,namespace=N][,address=SOCK] |
    /// type=cacheonly (repeatable; `{bin}` in dest is replaced by each binary's name)
    #[arg(
        short = 'o',
        long = "output",
        value_name = "SPEC",
        help_heading = "Output"
    )]
    pub outputs: Vec<String>,

    /// Push each image to its repository (the same as --output type=registry); stdout then
    /// lists the pushed references by digest [env: CARGO_IMAGEBUILD_PUSH=true]
    #[arg(long, help_heading = "Output")]
    pub push: bool,

    /// Write the pushed references (REPOSITORY@DIGEST, one a line) to FILE
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub image_refs: Option<std::path::PathBuf>,

    /// Write a JSON summary of the push (index digest, manifest digest per platform, tags) to FILE
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub metadata_file: Option<std::path::PathBuf>,

    /// Treat this registry host[:port] as insecure (repeatable), as docker and podman do:
    /// plain HTTP when it does not speak TLS, its certificate unchecked when it does. Also
    /// read from registries.conf (`[[registry]] insecure = true`); loopback registries that
    /// do not speak TLS are reached over HTTP without it
    #[arg(
        long = "insecure-registry",
        value_name = "HOST",
        help_heading = "Registry"
    )]
    pub insecure_registries: Vec<String>,

    /// Trust this certificate (PEM) for registry TLS: the registry's own (even self-signed)
    /// or the CA that signed it; certs.d directories and the system store are read too
    #[arg(long, value_name = "FILE", help_heading = "Registry")]
    pub registry_ca: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub registry_limits: RegistryLimits,
    /// Load the image into docker or podman, for ONE platform: the daemon's own unless
    /// --load-platform says otherwise (a classic Docker image store cannot hold an index).
    /// Same as --output type=docker
    #[arg(long, help_heading = "Output")]
    pub load: bool,

    /// The platform that --load and type=docker outputs hold: linux/arm64
    #[arg(long, value_name = "PLATFORM", help_heading = "Output")]
    pub load_platform: Option<String>,

    /// What --load loads into: docker or podman (default: docker if it answers, else podman),
    /// or containerd (the whole index, into namespace k8s.io; see type=containerd)
    #[arg(long, value_name = "docker|podman|containerd", help_heading = "Output")]
    pub loader: Option<String>,

    /// Print the plan (binaries, platforms, targets, outputs) and stop without building
    #[arg(long, help_heading = "Output")]
    pub dry_run: bool,

    /// Download no tool (zig) when one is missing; CARGO_NET_OFFLINE=true does the same
    #[arg(long)]
    pub offline: bool,

    /// Keep this machine's paths (workspace, CARGO_HOME, toolchain) in the binaries instead of
    /// remapping them to fixed names (the remap makes digests equal across machines)
    #[arg(long, help_heading = "Compilation Options")]
    pub no_remap_paths: bool,

    /// The SBOM attached to each platform's manifest (an OCI artifact that refers to it):
    /// spdx (SPDX 2.3 JSON, the default), cyclonedx (CycloneDX 1.5 JSON) or none
    #[arg(long, value_name = "FORMAT", value_parser = parse_sbom, default_value = "spdx", help_heading = "Supply chain")]
    pub sbom: SbomFormat,

    /// Attach no provenance statement (in-toto, SLSA provenance v1) to the manifests
    #[arg(long, help_heading = "Supply chain")]
    pub no_provenance: bool,

    /// Do not write the dependency list into each binary (the `.dep-v0` section of the
    /// cargo-auditable format, which syft, trivy and grype read)
    #[arg(long, help_heading = "Supply chain")]
    pub no_auditable: bool,

    /// Also write each SBOM and provenance statement to DIR (<bin>-<os>-<arch>.spdx.json, ...)
    #[arg(long, value_name = "DIR", help_heading = "Supply chain")]
    pub sbom_dir: Option<PathBuf>,

    /// Sign each pushed index and platform manifest in cosign's format (sha256-<digest>.sig
    /// tags) and attest each SBOM and provenance (sha256-<digest>.att), before any tag moves,
    /// with this ECDSA P-256 private key: PKCS#8 PEM (as `openssl genpkey -algorithm EC -pkeyopt
    /// ec_paramgen_curve:P-256` writes) or cosign's encrypted cosign.key (password in
    /// COSIGN_PASSWORD). Also `sign-key` in [workspace.metadata.imagebuild] [env:
    /// CARGO_IMAGEBUILD_SIGN_KEY=]
    #[arg(long, value_name = "FILE", help_heading = "Supply chain")]
    pub sign_key: Option<PathBuf>,

    /// Use verbose output (-vv very verbose)
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print nothing but the results on stdout
    #[arg(short, long)]
    pub quiet: bool,

    /// How progress shows on stderr: auto (a live display on a terminal, else plain lines),
    /// tty or plain
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = parse_progress)]
    pub progress: Progress,

    /// What stdout carries: human (the digests, or the pushed references) or json (cargo's
    /// convention: one JSON object a line per event, then one `image-result` per binary; with
    /// --dry-run, the plan)
    #[arg(long, value_name = "FMT", default_value = "human", value_parser = parse_message_format)]
    pub message_format: MessageFormat,
}

/// `cargo imagebuild <command>`.
#[derive(Debug, Subcommand)]
pub enum ImagebuildCommand {
    /// Check this machine for what building the platforms needs (Rust targets, linkers, C
    /// compilers, zig, a loader, credentials); print the fixes grouped by package manager (--fix
    /// runs them) and exit non-zero when something the platforms need is missing
    Doctor(DoctorArgs),
    /// Print what is attached to each platform of an image (SBOMs, provenance): REF is a
    /// registry reference (localhost:5000/api:1.0) or an OCI layout (oci:DIR[:TAG]); with no
    /// REF, the images in target/imagebuild/
    Sbom(SbomArgs),
    /// Assemble one multi-platform index from per-platform OCI layouts built on separate
    /// machines (each with --platform P --output type=oci,dest=DIR); the index is byte-identical
    /// to what one build of all the platforms gives, and a push sends only what the registry
    /// lacks
    Merge(MergeArgs),
    /// Remove this tool's caches: the workspace's blob store, packed layers and other internal
    /// files (target/imagebuild/.work) and the base-layer cache shared by your workspaces
    /// ($CARGO_IMAGEBUILD_CACHE/blobs); images written to outputs stay. Each cache is also
    /// bounded automatically (CARGO_IMAGEBUILD_CACHE_LIMIT, default 2GiB)
    Clean(CleanArgs),
    /// Write a commented [package.metadata.imagebuild] (or workspace) section into Cargo.toml,
    /// keeping the rest of it as it is; with --ci, also a CI workflow that builds on pull
    /// requests and pushes on tags. Nothing is overwritten without --force
    Init(InitArgs),
    /// List every platform with the Rust target a build would choose here, the route it would
    /// take (linker, C compiler) and what is missing
    Platforms(PlatformsArgs),
    /// Print YAML (Kubernetes manifests or any) with each `imagebuild://BIN` or
    /// `imagebuild://PACKAGE/BIN` replaced by REPOSITORY@sha256:… of that binary's image, built
    /// for every configured platform and pushed, once each; every other byte is kept (comments,
    /// order, other documents). Apply it with `| kubectl apply -f -`
    Resolve(ResolveArgs),
    /// Build one binary for the daemon's platform only, load it into docker or podman as
    /// BIN:dev and run it as `docker run --rm --init` does: -i and -t when stdin is a terminal,
    /// -p, -e, -v and --network passed through, ARGS after `--` for the program, and the
    /// container's exit code as ours. Ctrl-C stops the container; none is left
    Run(RunArgs),
    /// Check the cosign signatures and attestations of an image (its index, every platform
    /// manifest and each attached SBOM and provenance, as pushed or written with --sign-key)
    /// against a public key; print what was verified and exit non-zero when one is missing,
    /// made with another key or changed
    Verify(VerifyArgs),
}

/// `cargo imagebuild verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The image: a registry reference (localhost:5000/api:1.0, or @sha256:…), or an OCI
    /// layout as oci:DIR[:TAG]
    #[arg(value_name = "REF")]
    pub reference: String,
    /// The public key (PEM: `openssl pkey -in cosign.pem -pubout -out cosign.pub`)
    #[arg(long, value_name = "PUB.pem")]
    pub key: PathBuf,
    /// Speak plain HTTP to this registry host[:port] (repeatable)
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Trust this CA certificate (PEM) for registry TLS, besides the system's
    #[arg(long, value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,
}

impl VerifyArgs {
    pub fn into_options(self) -> VerifyOptions {
        let mut registry = RegistryOptions::default();
        registry.insecure = self.insecure_registries;
        registry.ca = self.registry_ca;
        let mut opts = VerifyOptions::default();
        opts.reference = self.reference;
        opts.key = self.key;
        opts.registry = registry;
        opts
    }
}

/// `cargo imagebuild run`. Its short flags are `docker run`'s (-p publishes, -e sets a
/// variable, -v mounts a volume), so cargo's selection flags are long ones here.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The binary to run (needed when the selection has several)
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
    /// The package whose binary runs
    #[arg(long, value_name = "SPEC")]
    pub package: Option<String>,
    #[command(flatten)]
    pub manifest: clap_cargo::Manifest,
    #[command(flatten)]
    pub features: clap_cargo::Features,
    /// Build with the given cargo profile
    #[arg(long, value_name = "PROFILE-NAME", default_value = "release")]
    pub profile: String,
    /// What to load into and run with: docker or podman (default: docker if it answers, else
    /// podman)
    #[arg(long, value_name = "docker|podman")]
    pub loader: Option<String>,
    /// Keep stdin open (default: when stdin is a terminal)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the container a terminal (default: when stdin and stdout are terminals)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Publish a container port, as docker run -p: 8080:8080 (repeatable)
    #[arg(short = 'p', long = "publish", value_name = "HOST:CONTAINER")]
    pub publish: Vec<String>,
    /// Set a variable in the container: KEY=VALUE, or KEY to pass ours (repeatable)
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Mount a volume, as docker run -v: SRC:DEST[:OPTS] (repeatable)
    #[arg(short = 'v', long = "volume", value_name = "SRC:DEST")]
    pub volumes: Vec<String>,
    /// The container's network, as docker run --network
    #[arg(long, value_name = "NAME")]
    pub network: Option<String>,
    /// Print nothing of the build but errors
    #[arg(short, long)]
    pub quiet: bool,
    /// The program's arguments (they replace the image's cmd)
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

impl RunArgs {
    pub fn verbosity(&self) -> Verbosity {
        Verbosity::from_flags(self.quiet, 0)
    }

    /// The run these arguments ask for; `stdin_tty` and `stdout_tty` give -i and -t their
    /// defaults.
    pub fn into_options(self, stdin_tty: bool, stdout_tty: bool) -> RunOptions {
        let mut opts = Options::default();
        opts.manifest_path = self.manifest.manifest_path;
        opts.packages = self.package.into_iter().collect();
        opts.bins = self.bin.into_iter().collect();
        let mut features = FeatureArgs::default();
        features.features = self.features.features;
        features.all_features = self.features.all_features;
        features.no_default_features = self.features.no_default_features;
        opts.features = features;
        opts.profile = self.profile;
        let mut run = RunOptions::new(opts);
        run.loader = self.loader;
        let mut flags = RunFlags::default();
        flags.interactive = self.interactive || stdin_tty;
        flags.tty = self.tty || (stdin_tty && stdout_tty);
        flags.publish = self.publish;
        flags.env = self.env;
        flags.volumes = self.volumes;
        flags.network = self.network;
        run.flags = flags;
        run.args = self.args;
        run
    }
}

/// `cargo imagebuild resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The YAML to resolve: a file, a directory (its *.yaml and *.yml files, below it too, in
    /// path order, joined by `---`) or - for standard input (repeatable)
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR|-",
        required = true
    )]
    pub files: Vec<PathBuf>,
    /// Push the images (--push=false: build them and print the digests a push would give,
    /// which are reproducible, without pushing)
    #[arg(long, value_name = "BOOL", default_value = "true", num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set)]
    pub push: bool,
    #[command(flatten)]
    pub manifest: clap_cargo::Manifest,
    #[command(flatten)]
    pub features: clap_cargo::Features,
    /// Build with the given cargo profile
    #[arg(long, value_name = "PROFILE-NAME", default_value = "release")]
    pub profile: String,
    /// Build for the OCI platforms (repeatable, comma lists); default: the configured ones
    #[arg(
        long = "platform",
        value_name = "LIST",
        env = "CARGO_IMAGEBUILD_PLATFORMS"
    )]
    pub platforms: Vec<String>,
    /// Image repository; `{bin}` is replaced by the binary's name (without it and without a
    /// `repository` setting: CARGO_IMAGEBUILD_REPO=PREFIX gives PREFIX/<bin>)
    #[arg(long, value_name = "REPO")]
    pub repository: Option<String>,
    /// Base image: `scratch` (default) or an image reference
    #[arg(long, value_name = "IMAGE", env = "CARGO_IMAGEBUILD_BASE")]
    pub base: Option<String>,
    /// Treat this registry host[:port] as insecure (repeatable), as for a build
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Trust this certificate (PEM) for registry TLS
    #[arg(long, value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,
    #[command(flatten)]
    pub registry_limits: RegistryLimits,
    /// Use verbose output
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Print nothing but the resolved YAML
    #[arg(short, long)]
    pub quiet: bool,
}

impl ResolveArgs {
    pub fn verbosity(&self) -> Verbosity {
        Verbosity::from_flags(self.quiet, self.verbose)
    }

    /// The build each referenced binary gets, and whether to push.
    pub fn into_options(self) -> Result<ResolveOptions> {
        let mut opts = Options::default();
        opts.manifest_path = self.manifest.manifest_path;
        let mut features = FeatureArgs::default();
        features.features = self.features.features;
        features.all_features = self.features.all_features;
        features.no_default_features = self.features.no_default_features;
        opts.features = features;
        opts.profile = self.profile;
        opts.platforms = PlatformChoice::parse(&self.platforms).context("--platform")?;
        opts.settings.repository = self.repository;
        opts.settings.base = self.base;
        opts.registry = registry_options(
            self.insecure_registries,
            self.registry_ca,
            &self.registry_limits,
            &opts.env,
        )?;
        opts.cargo_verbose = self.verbose > 0;
        let mut resolve = ResolveOptions::new(opts);
        resolve.push = self.push;
        Ok(resolve)
    }
}

/// `cargo imagebuild clean`.
#[derive(Debug, Args)]
pub struct CleanArgs {
    /// The workspace whose target directory is cleaned
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
}

/// `--registry-timeout` and `--retries`, for builds and merges alike.
#[derive(Debug, Default, Args)]
pub struct RegistryLimits {
    /// Deadline of each registry request attempt in seconds, its body included (a blob gets a
    /// second more per MiB); a request that misses it is retried. Also `registry-timeout` in
    /// [workspace.metadata.imagebuild] [default: 25] [env: CARGO_IMAGEBUILD_REGISTRY_TIMEOUT=]
    #[arg(
        long,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..=3600),
        help_heading = "Registry"
    )]
    pub registry_timeout: Option<u64>,
    /// Retries of a failed registry request (5xx, 429, a dropped connection, a missed deadline),
    /// waiting 0.5 s, then 1 s, 2 s, … between them, or what a Retry-After asks. Also `retries`
    /// in [workspace.metadata.imagebuild] [default: 3] [env: CARGO_IMAGEBUILD_RETRIES=]
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(0..=20),
        help_heading = "Registry"
    )]
    pub retries: Option<u32>,
}

/// `cargo imagebuild sbom`.
#[derive(Debug, Args)]
pub struct SbomArgs {
    /// The image: a registry reference, or oci:DIR[:TAG]; default: every image the workspace's
    /// last build wrote to target/imagebuild/
    #[arg(value_name = "REF")]
    pub reference: Option<String>,
    /// With no REF: the workspace whose target/imagebuild/ is read
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Also write each document to DIR (<name>-<os>-<arch>.spdx.json, .cdx.json, .provenance.json)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Speak plain HTTP to this registry host[:port] (repeatable)
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Trust this CA certificate (PEM) for registry TLS, besides the system's
    #[arg(long, value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,
}

impl SbomArgs {
    pub fn into_options(self) -> SbomOptions {
        let mut registry = RegistryOptions::default();
        registry.insecure = self.insecure_registries;
        registry.ca = self.registry_ca;
        let mut opts = SbomOptions::default();
        opts.reference = self.reference;
        opts.manifest_path = self.manifest_path;
        opts.out = self.out;
        opts.registry = registry;
        opts
    }
}

/// `cargo imagebuild platforms`.
#[derive(Debug, Args)]
pub struct PlatformsArgs {
    /// Extra cargo `--config KEY=VALUE` settings (a linker configured there counts)
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub cargo_config: Vec<String>,
}

/// `cargo imagebuild init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The Cargo.toml to edit (default: the one in this directory)
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Where pushes go: ghcr.io/acme/{bin} ({bin} is each binary's name)
    #[arg(long, value_name = "REPO")]
    pub repository: Option<String>,
    /// The OCI platforms to build (repeatable, comma lists); default linux/amd64,linux/arm64
    #[arg(long = "platform", value_name = "LIST")]
    pub platforms: Vec<String>,
    /// The base image: scratch (default) or an image reference
    #[arg(long, value_name = "IMAGE")]
    pub base: Option<String>,
    /// Also write a CI workflow: github (.github/workflows/images.yml: a platform matrix, then
    /// merge) or gitlab (.gitlab-ci.yml)
    #[arg(long, value_name = "github|gitlab", value_parser = parse_ci)]
    pub ci: Option<Ci>,
    /// Replace an existing section or workflow
    #[arg(long)]
    pub force: bool,
}

impl InitArgs {
    pub fn into_options(self) -> InitOptions {
        let mut opts = InitOptions::default();
        opts.manifest_path = self.manifest_path;
        opts.repository = self.repository;
        opts.platforms = self.platforms;
        opts.base = self.base;
        opts.ci = self.ci;
        opts.force = self.force;
        opts
    }
}

fn parse_ci(s: &str) -> Result<Ci, String> {
    s.parse()
}

/// `cargo imagebuild merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The per-platform OCI layout directories, in the order the index lists them (the order
    /// of --platform in a single build)
    #[arg(value_name = "DIR", required = true, num_args = 2..)]
    pub dirs: Vec<PathBuf>,
    /// Name and tag (repeatable), as for a build: NAME[:TAG] or :TAG; default: the layouts'
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Where the merged index goes: type=oci,dest=DIR | type=oci,dest=FILE,tar=true | … (repeatable)
    #[arg(short = 'o', long = "output", value_name = "SPEC")]
    pub outputs: Vec<String>,
    /// Push the merged index (the same as --output type=registry)
    #[arg(long)]
    pub push: bool,
    /// Sign the pushed index and each platform manifest with this key, as a build's
    /// --sign-key does [env: CARGO_IMAGEBUILD_SIGN_KEY=]
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// Speak plain HTTP to this registry host[:port] (repeatable)
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Trust this CA certificate (PEM) for registry TLS, besides the system's
    #[arg(long, value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,
    #[command(flatten)]
    pub registry_limits: RegistryLimits,
    /// What stdout carries: human or json (as for a build)
    #[arg(long, value_name = "FMT", default_value = "human", value_parser = parse_message_format)]
    pub message_format: MessageFormat,
    /// Use verbose output
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Print nothing but the results on stdout
    #[arg(short, long)]
    pub quiet: bool,
}

impl MergeArgs {
    pub fn into_options(self) -> Result<MergeOptions> {
        let mut opts = MergeOptions::default();
        opts.dirs = self.dirs;
        opts.tags = self.tags.into_iter().map(Tag::Docker).collect();
        opts.outputs = self.outputs;
        opts.push = self.push;
        opts.sign_key = self.sign_key;
        opts.registry = registry_options(
            self.insecure_registries,
            self.registry_ca,
            &self.registry_limits,
            &opts.env,
        )?;
        Ok(opts)
    }
}

/// How registries are reached, from the flags that say it (a deadline or a retry count not
/// given as a flag comes from its environment variable).
fn registry_options(
    insecure: Vec<String>,
    ca: Option<PathBuf>,
    limits: &RegistryLimits,
    env: &Environment,
) -> Result<RegistryOptions> {
    let mut registry = RegistryOptions::default();
    registry.insecure = insecure;
    registry.ca = ca;
    registry.timeout_secs = match limits.registry_timeout {
        Some(t) => Some(t),
        None => env_number(
            env,
            "CARGO_IMAGEBUILD_REGISTRY_TIMEOUT",
            1..=3600,
            "seconds",
        )?,
    };
    registry.retries = match limits.retries {
        Some(n) => Some(n),
        None => env_number(env, "CARGO_IMAGEBUILD_RETRIES", 0..=20, "retries")?
            .and_then(|n| u32::try_from(n).ok()),
    };
    Ok(registry)
}

/// The variables that stand for flags are read here, not by clap, so that a bad value is
/// reported with the variable's name (clap would name the flag, which the user did not pass).
/// An empty variable counts as unset.
fn env_number(
    env: &Environment,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
    unit: &str,
) -> Result<Option<u64>> {
    let Some(v) = env.var(name) else {
        return Ok(None);
    };
    match v.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => bail!(
            "{name}=`{v}` is not a number from {} to {} ({unit}): fix it or unset it",
            range.start(),
            range.end()
        ),
    }
}

/// A yes/no variable: true/false, 1/0, yes/no, on/off (any case), as cargo's own booleans and
/// CI systems write them.
fn env_bool(env: &Environment, name: &str) -> Result<Option<bool>> {
    let Some(v) = env.var(name) else {
        return Ok(None);
    };
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(Some(true)),
        "false" | "0" | "no" | "off" => Ok(Some(false)),
        _ => bail!(
            "{name}=`{v}` is not true or false: set it to true or false (1/0, yes/no and on/off \
             work too), or unset it"
        ),
    }
}

/// `cargo imagebuild doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check for these OCI platforms (repeatable, comma lists); default: this machine's
    #[arg(long = "platform", value_name = "LIST")]
    pub platforms: Vec<String>,
    /// Check for these Rust target triples (repeatable)
    #[arg(long = "target", value_name = "TRIPLE")]
    pub targets: Vec<String>,
    /// Check for this builder: cargo, zigbuild or cross
    #[arg(long, value_name = "BUILDER", value_parser = parse_builder)]
    pub builder: Option<Builder>,
    /// The workspace whose dependency graph decides whether a C compiler is needed
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Extra cargo `--config KEY=VALUE` settings (a linker configured there counts)
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub cargo_config: Vec<String>,
    /// Run the grouped fixes (rustup target add, then apt-get update and install as root), then
    /// check again; asks first on a terminal
    #[arg(long)]
    pub fix: bool,
    /// With --fix: run the fixes without asking (needed when stdin is not a terminal, as in CI)
    #[arg(long, requires = "fix")]
    pub yes: bool,
}

impl DoctorArgs {
    pub fn into_options(self) -> DoctorOptions {
        let mut opts = DoctorOptions::default();
        opts.platforms = self.platforms;
        opts.targets = self.targets;
        opts.builder = self.builder;
        opts.manifest_path = self.manifest_path;
        opts.cargo_config = self.cargo_config;
        opts
    }
}

fn parse_builder(s: &str) -> Result<Builder, String> {
    s.parse()
}

fn parse_sbom(s: &str) -> Result<SbomFormat, String> {
    s.parse()
}

fn parse_strip(s: &str) -> Result<Strip, String> {
    s.parse()
}

fn parse_progress(s: &str) -> Result<Progress, String> {
    s.parse()
}

fn parse_message_format(s: &str) -> Result<MessageFormat, String> {
    s.parse()
}

/// Splits `KEY=VALUE` into a map entry, or says which flag was malformed.
fn key_values(
    flag: &str,
    values: &[String],
) -> Result<Option<std::collections::BTreeMap<String, String>>> {
    if values.is_empty() {
        return Ok(None);
    }
    let mut map = std::collections::BTreeMap::new();
    for v in values {
        let Some((k, val)) = v.split_once('=') else {
            bail!("{flag} `{v}` is not KEY=VALUE");
        };
        if k.is_empty() {
            bail!("{flag} `{v}` has an empty key");
        }
        map.insert(k.to_string(), val.to_string());
    }
    Ok(Some(map))
}

const ENV_BASE: &str = "CARGO_IMAGEBUILD_BASE";
const ENV_TAGS: &str = "CARGO_IMAGEBUILD_TAGS";
const ENV_GLIBC: &str = "CARGO_IMAGEBUILD_GLIBC";
const ENV_INSTALL: &str = "CARGO_IMAGEBUILD_INSTALL";

/// The variables whose values a run takes for an absent flag (and `CARGO_IMAGEBUILD_REPO`,
/// which the library reads): with their values, so an error about a value can name the
/// variable it came from ([`name_the_variable`]).
pub fn variables_in_use(args: &ImagebuildArgs, env: &Environment) -> Vec<(&'static str, String)> {
    let mut used = Vec::new();
    if args.base.is_none() {
        used.extend(env.var(ENV_BASE).map(|v| (ENV_BASE, v)));
    }
    if args.tags.is_empty() {
        for t in env.var(ENV_TAGS).iter().flat_map(|l| l.split(',')) {
            if !t.trim().is_empty() {
                used.push((ENV_TAGS, t.trim().to_string()));
            }
        }
    }
    let repo = "CARGO_IMAGEBUILD_REPO";
    used.extend(env.var(repo).map(|v| (repo, v)));
    used
}

/// `e`, led by the variable that gave the value it is about (the message quotes the value in
/// backticks), so the user knows which setting to fix: a flag they did not pass would mislead.
pub fn name_the_variable(e: anyhow::Error, used: &[(&'static str, String)]) -> anyhow::Error {
    let text = format!("{e:#}");
    match used.iter().find(|(_, v)| text.contains(&format!("`{v}"))) {
        Some((name, v)) => e.context(format!("{name}=`{v}` (from the environment)")),
        None => e,
    }
}

/// `CARGO_IMAGEBUILD_INSTALL`: `auto` lets a build install what it lacks, `never` (or unset)
/// does not; anything else is refused.
fn install_from_env(env: &Environment) -> Result<bool> {
    let name = ENV_INSTALL;
    match env.var(name).as_deref().map(str::trim) {
        None | Some("") | Some("never") => Ok(false),
        Some("auto") => Ok(true),
        Some(other) => anyhow::bail!(
            "{name}=`{other}` (from the environment): use auto (install what a build lacks, as \
             --install-missing) or never"
        ),
    }
}

/// How a run is shown, which the library does not need to know.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub verbosity: Verbosity,
    pub progress: Progress,
    pub format: MessageFormat,
    /// `--dry-run`: print the plan and stop.
    pub dry_run: bool,
}

impl ImagebuildArgs {
    /// How the run is shown.
    pub fn view(&self) -> View {
        View {
            verbosity: Verbosity::from_flags(self.quiet, self.verbose),
            progress: self.progress,
            format: self.message_format,
            dry_run: self.dry_run,
        }
    }

    /// The options these arguments ask for; the settings they carry are the top layer.
    pub fn into_options(self) -> Result<Options> {
        let env = Environment::from_process();
        if self.profile.trim().is_empty() {
            bail!(
                "--profile is empty: name a cargo profile such as release or dev (without \
                 --profile, release is built)"
            );
        }
        let compression = self
            .compression
            .as_deref()
            .map(str::parse::<CompressionKind>)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        let ports = if self.ports.is_empty() {
            None
        } else {
            Some(
                self.ports
                    .iter()
                    .map(|p| Port::Text(p.clone()))
                    .collect::<Vec<_>>(),
            )
        };
        if let Some(ports) = &ports {
            for p in ports {
                p.normalized().map_err(|e| anyhow::anyhow!("--port: {e}"))?;
            }
        }
        let mut settings = ImageSettings::default();
        settings.base = self.base.or_else(|| env.var(ENV_BASE));
        settings.glibc = match (self.glibc, env.var(ENV_GLIBC)) {
            (Some(v), _) => Some(v.parse().map_err(|e| anyhow::anyhow!("--glibc: {e}"))?),
            (None, Some(v)) if !v.trim().is_empty() => Some(
                v.parse()
                    .map_err(|e| anyhow::anyhow!("{ENV_GLIBC} (from the environment): {e}"))?,
            ),
            (None, _) => None,
        };
        settings.repository = self.repository;
        settings.compression = compression;
        settings.compression_level = self.compression_level;
        settings.labels = key_values("--label", &self.labels)?;
        settings.annotations = key_values("--annotation", &self.annotations)?;
        settings.env = key_values("--env", &self.env)?;
        settings.ports = ports;
        settings.remap_paths = self.no_remap_paths.then_some(false);
        settings.sign_key = self.sign_key;
        settings.strip = self.strip;
        // `-t` values replace the `tags` setting: they are its top layer.
        let tags = match (self.tags.is_empty(), env.var(ENV_TAGS)) {
            (true, Some(list)) => list
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            _ => self.tags,
        };
        if !tags.is_empty() {
            settings.tags = Some(tags.into_iter().map(Tag::Docker).collect());
        }
        let verbose = Verbosity::from_flags(self.quiet, self.verbose) == Verbosity::Verbose;
        let mut opts = Options::default();
        opts.manifest_path = self.manifest.manifest_path;
        opts.packages = self.workspace.package;
        opts.workspace = self.workspace.workspace || self.workspace.all;
        opts.exclude = self.workspace.exclude;
        opts.bins = self.bins;
        let mut features = FeatureArgs::default();
        features.features = self.features.features;
        features.all_features = self.features.all_features;
        features.no_default_features = self.features.no_default_features;
        opts.features = features;
        opts.profile = self.profile;
        opts.targets = self.targets;
        opts.platforms = if self.platforms.is_empty() {
            match env.var("CARGO_IMAGEBUILD_PLATFORMS") {
                Some(v) => PlatformChoice::parse(&[v.as_str()])
                    .with_context(|| format!("CARGO_IMAGEBUILD_PLATFORMS=`{v}`"))?,
                None => None,
            }
        } else {
            PlatformChoice::parse(&self.platforms).context("--platform")?
        };
        opts.cargo_config = self.cargo_config;
        opts.settings = settings;
        opts.outputs = self.outputs;
        opts.push = self.push || env_bool(&env, "CARGO_IMAGEBUILD_PUSH")?.unwrap_or(false);
        opts.image_refs = self.image_refs;
        opts.metadata_file = self.metadata_file;
        opts.registry = registry_options(
            self.insecure_registries,
            self.registry_ca,
            &self.registry_limits,
            &env,
        )?;
        opts.load = self.load;
        opts.loader = self.loader;
        opts.load_platform = self.load_platform;
        opts.cargo_verbose = verbose;
        opts.builder = self.builder;
        opts.offline = self.offline;
        opts.install_missing = self.install_missing || install_from_env(&env)?;
        opts.sbom = self.sbom;
        opts.no_provenance = self.no_provenance;
        opts.no_auditable = self.no_auditable;
        opts.sbom_dir = self.sbom_dir;
        opts.env = env;
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> ImagebuildArgs {
        let CargoCli::Imagebuild(a) =
            CargoCli::try_parse_from(["cargo", "imagebuild"].iter().chain(args)).unwrap();
        a
    }

    #[test]
    fn cargo_conventions() {
        let a = parse(&[
            "-p",
            "server",
            "--bin",
            "api",
            "-F",
            "tls",
            "--profile",
            "dev",
            "--target",
            "aarch64-unknown-linux-musl",
            "--platform",
            "linux/amd64,linux/386",
            "-vv",
        ]);
        assert_eq!(a.workspace.package, ["server"]);
        assert_eq!(a.bins, ["api"]);
        assert_eq!(a.features.features, ["tls"]);
        assert_eq!(a.profile, "dev");
        assert_eq!(a.verbose, 2);
        assert_eq!(a.view().verbosity, Verbosity::Verbose);
        let o = a.into_options().unwrap();
        assert!(o.cargo_verbose);
        assert_eq!(
            o.platforms.map(|p| p.to_string()).as_deref(),
            Some("linux/amd64,linux/386")
        );
    }

    #[test]
    fn load_flags_reach_the_options() {
        let o = parse(&[
            "--load",
            "--load-platform",
            "linux/arm64",
            "--loader",
            "podman",
        ])
        .into_options()
        .unwrap();
        assert!(o.load);
        assert_eq!(o.load_platform.as_deref(), Some("linux/arm64"));
        assert_eq!(o.loader.as_deref(), Some("podman"));
    }

    #[test]
    fn defaults() {
        let a = parse(&[]);
        assert_eq!(a.profile, "release");
        assert_eq!(a.view().verbosity, Verbosity::Normal);
        let o = a.into_options().unwrap();
        assert!(o.settings.tags.is_none() && !o.cargo_verbose);
    }

    #[test]
    fn malformed_key_values_are_refused() {
        let e = parse(&["--label", "novalue"])
            .into_options()
            .unwrap_err()
            .to_string();
        assert!(e.contains("--label `novalue` is not KEY=VALUE"), "{e}");
        assert!(parse(&["--compression", "lz4"]).into_options().is_err());
        assert!(parse(&["--port", "http"]).into_options().is_err());
    }

    #[test]
    fn builder_and_doctor() {
        let a = parse(&["--builder", "zigbuild"]);
        assert_eq!(a.builder, Some(Builder::Zigbuild));
        let e =
            CargoCli::try_parse_from(["cargo", "imagebuild", "--builder", "docker"]).unwrap_err();
        assert!(e.to_string().contains("cargo, zigbuild or cross"), "{e}");
        let a = parse(&["doctor", "--platform", "linux/riscv64"]);
        let Some(ImagebuildCommand::Doctor(d)) = a.command else {
            panic!("no doctor command")
        };
        assert!(!d.fix && !d.yes);
        assert_eq!(d.into_options().platforms, ["linux/riscv64"]);
        let a = parse(&["doctor", "--fix", "--yes"]);
        let Some(ImagebuildCommand::Doctor(d)) = a.command else {
            panic!("no doctor command")
        };
        assert!(d.fix && d.yes);
        assert!(CargoCli::try_parse_from(["cargo", "imagebuild", "doctor", "--yes"]).is_err());
    }

    #[test]
    fn install_is_auto_or_never() {
        let env = |v: &str| Environment::empty().with(ENV_INSTALL, v);
        assert!(install_from_env(&env("auto")).unwrap());
        assert!(!install_from_env(&env("never")).unwrap());
        assert!(!install_from_env(&env("")).unwrap());
        assert!(!install_from_env(&Environment::empty()).unwrap());
        let e = install_from_env(&env("yes")).unwrap_err().to_string();
        assert!(
            e.starts_with("CARGO_IMAGEBUILD_INSTALL=`yes`") && e.contains("auto"),
            "{e}"
        );
        let a = parse(&["--install-missing", "--glibc", "2.31"]);
        assert!(a.install_missing);
        assert_eq!(a.glibc.as_deref(), Some("2.31"));
    }

    #[test]
    fn variables_are_named_in_their_errors() {
        let env = |k: &str, v: &str| Environment::empty().with(k, v);
        for (v, want) in [
            ("true", true),
            ("YES", true),
            ("1", true),
            ("on", true),
            ("false", false),
            ("no", false),
            ("0", false),
            ("Off", false),
        ] {
            assert_eq!(env_bool(&env("X", v), "X").unwrap(), Some(want), "{v}");
        }
        assert_eq!(env_bool(&env("X", ""), "X").unwrap(), None);
        let e = env_bool(&env("X", "maybe"), "X").unwrap_err().to_string();
        assert!(e.starts_with("X=`maybe` is not true or false"), "{e}");
        assert_eq!(
            env_number(&env("T", "60"), "T", 1..=3600, "seconds").unwrap(),
            Some(60)
        );
        for bad in ["0", "3601", "-1", "soon"] {
            let e = env_number(&env("T", bad), "T", 1..=3600, "seconds")
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("T=`{bad}`")), "{e}");
        }
        let e = parse(&["--profile", ""]).into_options().unwrap_err();
        assert!(e.to_string().contains("--profile is empty"), "{e}");
    }

    #[test]
    fn resolve_flags() {
        let a = parse(&["resolve", "-f", "k8s", "-f", "-", "--push=false"]);
        let Some(ImagebuildCommand::Resolve(r)) = a.command else {
            panic!("no resolve command")
        };
        assert_eq!(r.files, [PathBuf::from("k8s"), PathBuf::from("-")]);
        assert!(!r.into_options().unwrap().push);
        let a = parse(&["resolve", "-f", "k8s"]);
        let Some(ImagebuildCommand::Resolve(r)) = a.command else {
            panic!("no resolve command")
        };
        assert!(r.into_options().unwrap().push);
        assert!(CargoCli::try_parse_from(["cargo", "imagebuild", "resolve"]).is_err());
    }

    #[test]
    fn run_flags_are_docker_run_s() {
        let a = parse(&[
            "run",
            "--bin",
            "migrate",
            "-p",
            "8080:80",
            "-e",
            "A=1",
            "-v",
            "/a:/b",
            "--network",
            "none",
            "--",
            "x",
            "--flag",
        ]);
        let Some(ImagebuildCommand::Run(r)) = a.command else {
            panic!("no run command")
        };
        let o = r.into_options(true, false);
        assert_eq!(o.build.bins, ["migrate"]);
        assert!(o.flags.interactive && !o.flags.tty);
        assert_eq!(o.flags.publish, ["8080:80"]);
        assert_eq!(o.flags.env, ["A=1"]);
        assert_eq!(o.flags.volumes, ["/a:/b"]);
        assert_eq!(o.args, ["x", "--flag"]);
        let Some(ImagebuildCommand::Run(r)) = parse(&["run", "-t"]).command else {
            panic!("no run command")
        };
        assert!(r.into_options(false, false).flags.tty);
    }

    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        CargoCli::command().debug_assert();
    }
}
