//! One build, start to finish, as a library call: [`build`] takes the [`Options`] and gives an
//! [`Outcome`]; [`plan`] stops after deciding and gives the [`Plan`]. In order, each step the
//! entry point of its own stage:
//!
//! 1. [`plan::plan`] reads the workspace and decides (pure; asks the registry nothing itself:
//!    `--platform all` is answered through [`RegistryLookup`]);
//! 2. [`install_targets`] installs missing standard libraries (`rustup target add`);
//! 3. [`route::plan_routes`] decides how each target is built, after probing the tools here
//!    and reading the glibc of each gnu target's registry base ([`glibc_of_bases`]); when
//!    zig is all a target lacks, [`zig::provision`] downloads the pinned one and routes are
//!    decided again;
//! 4. [`Loaders::preflight`] asks each `--load` daemon what it runs, before compiling (and
//!    [`sink::containerd::preflight`] each containerd its version);
//! 5. [`build_into`] compiles, checks and packs, and assembles one [`ImageSet`] per binary;
//!    [`attest::attach`] attaches an SBOM and provenance to each platform's manifest;
//! 6. [`deliver`] writes every set to each output's sink ([`sink::destinations::for_outputs`]);
//!    a push's references and summary go to `--image-refs` and `--metadata-file`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::assemble::build_into;
use crate::attest;
use crate::events::{Event, Listener};
use crate::image::model::{Image, ImageSet, Layer};
use crate::image::platform::Platform;
use crate::image::signature::{KeySigner, Signer};
use crate::image::store::BlobStore;
use crate::plan::options::Options;
use crate::plan::output::OutputSpec;
use crate::plan::{self, ImagePlan, TargetPlan};
use crate::provision::base::{base_glibcs, RegistryLookup};
use crate::provision::cache::fetch_base_blobs;
use crate::provision::targets::install_targets;
use crate::provision::zig;
use crate::registry::Connector;
use crate::route::{self, tools::Tools, Routes};
use crate::sink::load::Loaders;
use crate::sink::push::EarlyUploads;
use crate::sink::{self, Report};
use crate::util::atomic;
use crate::util::env::Environment;
use crate::util::report::Reporter;

/// What a build would do, decided and not yet done: each binary's image (its repository, tags,
/// platforms and Rust targets), how each target is built, and where the images go. It prints
/// as `--dry-run` shows it ([`std::fmt::Display`]) and serializes as `--message-format json`
/// does ([`Plan::to_json`]).
#[derive(Debug)]
pub struct Plan {
    pub(crate) plan: plan::Plan,
    pub(crate) routes: Routes,
}

impl Plan {
    /// The images, one per binary, in build order.
    pub fn images(&self) -> &[ImagePlan] {
        &self.plan.images
    }

    /// The plan as JSON: what the `plan` event and `--dry-run --message-format json` carry.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.plan).unwrap_or_default()
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.plan, self.routes.describe(&self.plan))
    }
}

impl ImagePlan {
    /// The binary.
    pub fn bin(&self) -> &str {
        &self.bin
    }

    /// Its package.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// The repository the image is named for (`ghcr.io/acme/api`, or the binary's name).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Its tags.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Its platforms, each with the Rust target that builds it.
    pub fn targets(&self) -> &[TargetPlan] {
        &self.targets
    }
}

/// What a build made and where it went.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// One entry per binary, in plan order.
    pub images: Vec<Built>,
    /// Whether some output pushed (the references by digest are then what a script pins).
    pub pushed: bool,
}

/// One binary's images and what each destination reported.
#[derive(Debug)]
pub struct Built {
    pub(crate) set: ImageSet,
    pub(crate) reports: Vec<Report>,
}

/// One platform's image of a [`Built`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuiltImage {
    /// The OCI platform.
    pub platform: Platform,
    /// The Rust target triple it was built with.
    pub target: String,
    /// The manifest's digest (`sha256:…`).
    pub digest: String,
    /// The manifest's size in bytes.
    pub size: u64,
    /// What the image takes in a registry: its config and compressed layers.
    pub image_size: u64,
}

impl Built {
    /// The binary (and the image's short name).
    pub fn name(&self) -> &str {
        &self.set.name
    }

    /// The repository the images belong to.
    pub fn repository(&self) -> &str {
        &self.set.repository
    }

    /// The tags, without the repository.
    pub fn tags(&self) -> &[String] {
        &self.set.tags
    }

    /// Each tag as a full reference: `REPOSITORY:TAG`.
    pub fn tag_references(&self) -> Vec<String> {
        self.set
            .tags
            .iter()
            .map(|t| format!("{}:{t}", self.set.repository))
            .collect()
    }

    /// `REPOSITORY@INDEX-DIGEST`: the pushed reference, by digest.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.set.repository, self.index_digest())
    }

    /// The image index's digest.
    pub fn index_digest(&self) -> &str {
        self.set.index.descriptor.digest.as_str()
    }

    /// The image index's size in bytes.
    pub fn index_size(&self) -> u64 {
        self.set.index.descriptor.size
    }

    /// Each platform's image, in index order.
    pub fn images(&self) -> impl Iterator<Item = BuiltImage> + '_ {
        self.set.images.iter().map(|img| BuiltImage {
            platform: img.platform.clone(),
            target: img.triple.clone(),
            digest: img.manifest.descriptor.digest.to_string(),
            size: img.manifest.descriptor.size,
            image_size: image_size(img),
        })
    }

    /// Where the images went, one line per destination (`OCI layout target/imagebuild/api`).
    pub fn destinations(&self) -> impl Iterator<Item = &str> + '_ {
        self.reports.iter().map(|r| r.destination.as_str())
    }
}

/// The bytes a platform's image takes in a registry: its config and compressed layers.
fn image_size(img: &Image) -> u64 {
    img.config.descriptor.size + img.layers.iter().map(|l| l.blob.size).sum::<u64>()
}

/// Decides what a build of `opts` would do, and how, without doing it: reads the workspace,
/// asks a registry base its platforms when `--platform all` needs them, reads the glibc of the
/// registry bases of gnu targets when zig is here to link against it (their layers go into the
/// base-layer cache the build reads), and probes the tools here; installs nothing and compiles
/// nothing. `listener` receives the warnings.
pub fn plan(opts: &Options, listener: impl Listener + 'static) -> Result<Plan> {
    let ui = Reporter::new(Arc::new(listener));
    let registry = Connector::new(&opts.registry, &opts.env, &ui);
    prepare(opts, &registry, &ui, false)
}

/// The plan and the route of each of its targets; with `provision`, missing standard libraries
/// are installed and a missing zig downloaded on the way (what a build needs, and a dry run must
/// not do).
fn prepare(opts: &Options, registry: &Connector, ui: &Reporter, provision: bool) -> Result<Plan> {
    let lookup = RegistryLookup::new(registry);
    let mut plan = plan::plan(opts, &lookup)?;
    ui.detail("Planned", &plan.metadata_source.to_string());
    for note in plan.images.iter().flat_map(|i| &i.notes) {
        ui.warn(note);
    }
    if provision {
        install_targets(&mut plan, ui)?;
    }
    let env = &plan.env;
    let tools =
        Tools::detect(Some(plan.toolchain.host()), env).with_provisioned_zig(zig::cached(env));
    let (tools, base_glibcs) = glibc_of_bases(&plan, tools, opts, registry, ui, provision);
    let mut routes = route::plan_routes(&plan, &tools, &base_glibcs)?;
    let missing = routes.missing_zig();
    if !missing.is_empty() && provision && tools.zig().is_none() {
        // zig is the one thing missing: fetch the pinned one into the cache and decide again.
        let offline = opts.offline || zig::offline_from_env(env);
        let why = format!("to compile C for {}", missing.join(", "));
        let zig = zig::provision(offline, &why, ui, env).map_err(|e| match routes.all() {
            // Say first what cannot be built, then why zig could not be had.
            Err(unbuildable) => e.context(unbuildable.to_string()),
            Ok(_) => e,
        })?;
        routes = route::plan_routes(
            &plan,
            &Tools::detect(Some(plan.toolchain.host()), env).with_provisioned_zig(Some(zig)),
            &base_glibcs,
        )?;
    }
    let cross = routes.missing_cross_gcc();
    if !cross.is_empty() && provision && opts.install_missing {
        // Asked to (--install-missing, CARGO_IMAGEBUILD_INSTALL=auto): what `doctor --fix
        // --yes` would install for these targets, then decide again.
        let mut packages: Vec<String> = cross
            .iter()
            .flat_map(|(_, p)| p.split(' ').map(str::to_string))
            .collect();
        packages.sort();
        packages.dedup();
        let targets: Vec<&str> = cross.iter().map(|(t, _)| t.as_str()).collect();
        ui.status(
            "Installing",
            &format!(
                "{} (the cross gcc of {}, as --install-missing allows)",
                packages.join(" "),
                targets.join(", ")
            ),
        );
        crate::provision::install::apply_for_build(&[crate::provision::install::Step::Apt(
            packages.clone(),
        )])
        .with_context(|| format!("installing the cross gcc of {}", targets.join(", ")))?;
        ui.status(
            "Installed",
            &format!("apt-get install {}", packages.join(" ")),
        );
        routes = route::plan_routes(
            &plan,
            &Tools::detect(Some(plan.toolchain.host()), env).with_provisioned_zig(zig::cached(env)),
            &base_glibcs,
        )?;
    }
    Ok(Plan { plan, routes })
}

/// The glibc of each gnu target whose user named none, from its registry base's own
/// ([`base_glibcs`], [`route::glibc::from_base`]), with the tools that link it (zig, provisioned
/// as for C code when a build needs it). Without zig (offline, none cached; or a dry run that
/// would download it) nothing is taken from the bases and the targets are linked as before
/// (and the symbol-version check names `--glibc`); `-v` says why.
fn glibc_of_bases(
    plan: &plan::Plan,
    tools: Tools,
    opts: &Options,
    registry: &Connector,
    ui: &Reporter,
    provision: bool,
) -> (Tools, route::BaseGlibcs) {
    let env = &plan.env;
    let mut chosen = route::BaseGlibcs::new();
    let triples = route::glibc_from_base_targets(plan, env);
    if triples.is_empty() {
        return (tools, chosen);
    }
    let tools = if tools.zig().is_some() {
        tools
    } else if !provision {
        ui.detail(
            "Glibc",
            &format!(
                "{}: zig is not cached; a build fetches it (unless offline) and links against the base's glibc",
                triples.join(", ")
            ),
        );
        return (tools, chosen);
    } else {
        let offline = opts.offline || zig::offline_from_env(env);
        let why = format!("to link {} against the base's glibc", triples.join(", "));
        match zig::provision(offline, &why, ui, env) {
            Ok(zig) => {
                Tools::detect(Some(plan.toolchain.host()), env).with_provisioned_zig(Some(zig))
            }
            Err(e) => {
                ui.detail(
                    "Glibc",
                    &format!("{:#}; {} linked as without --glibc", e, triples.join(", ")),
                );
                return (tools, chosen);
            }
        }
    };
    let (found, notes) = base_glibcs(plan, &triples, registry, ui);
    for note in notes {
        ui.detail("Glibc", &note);
    }
    for (triple, base) in found {
        match route::glibc::from_base(base, &triple) {
            Ok((v, origin)) => {
                if v != base {
                    ui.detail("Glibc", &format!("{triple}: glibc {v} ({origin})"));
                }
                chosen.insert(triple, (v, origin));
            }
            Err(why) => ui.detail(
                "Glibc",
                &format!("{triple}: {why}; linked as without --glibc"),
            ),
        }
    }
    (tools, chosen)
}

/// Builds every image `opts` asks for and writes each to every output; `listener` receives
/// every event of the run, in order.
pub fn build(opts: &Options, listener: impl Listener + 'static) -> Result<Outcome> {
    let ui = Reporter::new(Arc::new(listener));
    let begun = std::time::SystemTime::now();
    // A bad bound is refused before anything is built.
    crate::provision::cache::cache_limit(None, &opts.env)?;
    // The run's one registry client: bases, `--platform all` and pushes share its connections
    // and tokens.
    let registry = Arc::new(Connector::new(&opts.registry, &opts.env, &ui));
    let planned = prepare(opts, &registry, &ui, true)?;
    ui.detail("Plan", &format!("\n{planned}"));
    ui.emit(Event::Plan {
        plan: planned.to_json(),
    });
    let Plan { plan, routes } = planned;
    // Refuse before compiling anything when a target has no way to be built.
    let routes = routes.all()?;
    for (triple, route) in &routes {
        for lib in &route.system_libs {
            ui.warn(&format!(
                "{triple}: the dependency graph links the system's {lib}; the target has no \
                 such library unless your base provides it, so enable that feature"
            ));
        }
    }
    let platforms: Vec<Vec<Platform>> = plan
        .images
        .iter()
        .map(|i| i.targets.iter().map(|t| t.platform.clone()).collect())
        .collect();
    let loaders = Arc::new(Loaders::new(&plan.env));
    loaders.preflight(&plan.outputs, &platforms)?;
    sink::containerd::preflight(&plan.outputs)?;
    // Every output, `type=cacheonly` too, packs through the one layer cache in the target dir.
    let store = BlobStore::open_reporting(plan.store_dir(), &ui)?;
    // A push uploads each layer as soon as it is packed, while cargo compiles the rest.
    let early = plan.pushes().then(|| {
        let repositories = plan.images.iter().map(|i| i.repository.clone()).collect();
        EarlyUploads::new(&registry, repositories, &store)
    });
    let on_packed = |holders: &[usize], layer: &Layer| {
        if let Some(e) = &early {
            e.packed(holders, layer);
        }
    };
    // (On failure the uploads under way stop with the registry's runtime.)
    let mut sets = build_into(&plan, &routes, &ui, &store, &registry, &on_packed)?;
    if let Some(e) = &early {
        e.wait();
    }
    attest::attach(&plan, &routes, &mut sets, begun, &ui)?;
    let signer = signer_for(plan.sign_key.as_deref(), &plan.env)?;
    let sinks = Sinks {
        registry: &registry,
        loaders: &loaders,
        env: &plan.env,
        signer: signer.as_ref(),
    };
    let mut images = Vec::new();
    for set in sets {
        images.push(deliver(set, &plan.outputs, &sinks, &store, &ui)?);
    }
    let outcome = Outcome {
        images,
        pushed: plan.pushes(),
    };
    write_push_files(&plan.image_refs, &plan.metadata_file, &outcome)?;
    crate::provision::cache::trim_caches(&store, begun, plan.cache_limit, &ui, &plan.env)?;
    Ok(outcome)
}

/// What the sinks of a run share: the registry client, the probed loaders, the environment,
/// and what signs pushes (with a key).
pub(crate) struct Sinks<'a> {
    pub registry: &'a Arc<Connector>,
    pub loaders: &'a Arc<Loaders>,
    pub env: &'a Environment,
    pub signer: Option<&'a Arc<dyn Signer>>,
}

/// The signer of the key at `path` (`--sign-key`), if one was given.
pub(crate) fn signer_for(
    path: Option<&std::path::Path>,
    env: &Environment,
) -> Result<Option<Arc<dyn Signer>>> {
    Ok(match path {
        Some(p) => Some(Arc::new(KeySigner::read("--sign-key", p, env)?) as Arc<dyn Signer>),
        None => None,
    })
}

/// Writes `set` to every output (fetching a base's layers first when an output needs them all
/// on disk) and reports each write.
pub(crate) fn deliver(
    set: ImageSet,
    outputs: &[OutputSpec],
    sinks: &Sinks,
    store: &BlobStore,
    ui: &Reporter,
) -> Result<Built> {
    let list = sink::destinations::for_outputs(
        outputs,
        &set.name,
        sinks.registry,
        sinks.loaders,
        sinks.signer,
    );
    if set.has_remote_layers() && list.iter().any(|s| s.needs_local_blobs()) {
        fetch_base_blobs(&set, store, &*sinks.registry.get()?, ui, sinks.env)?;
    }
    let mut reports = Vec::new();
    for s in list {
        let started = std::time::Instant::now();
        let report = s.write(&set, store)?;
        ui.emit(Event::ImageWritten {
            bin: set.name.clone(),
            destination: report.destination.clone(),
            pushed: !s.needs_local_blobs(),
            index_digest: set.index.descriptor.digest.to_string(),
            seconds: started.elapsed().as_secs_f64(),
        });
        for note in &report.notes {
            ui.status("Note", note);
        }
        reports.push(report);
    }
    Ok(Built { set, reports })
}

/// `--image-refs` (one pushed reference a line) and `--metadata-file` (JSON), when asked.
fn write_push_files(
    image_refs: &Option<PathBuf>,
    metadata_file: &Option<PathBuf>,
    outcome: &Outcome,
) -> Result<()> {
    if let Some(path) = image_refs {
        let text: String = outcome
            .images
            .iter()
            .map(|b| format!("{}\n", b.reference()))
            .collect();
        atomic::write(path, text.as_bytes())
            .with_context(|| format!("--image-refs {}: cannot write it", path.display()))?;
    }
    if let Some(path) = metadata_file {
        atomic::write(path, &push_metadata(&outcome.images)?)
            .with_context(|| format!("--metadata-file {}: cannot write it", path.display()))?;
    }
    Ok(())
}

/// The `--metadata-file` JSON: per binary, the index digest, each platform's manifest digest
/// and the tags, plus buildx's `containerimage.digest` and `image.name` keys.
fn push_metadata(pushed: &[Built]) -> Result<Vec<u8>> {
    let mut all = serde_json::Map::new();
    for b in pushed {
        let set = &b.set;
        let tags: Vec<String> = set
            .tags
            .iter()
            .map(|t| format!("{}:{t}", set.repository))
            .collect();
        let manifests: serde_json::Map<String, serde_json::Value> = set
            .images
            .iter()
            .map(|i| {
                (
                    i.platform.to_string(),
                    serde_json::json!(i.manifest.descriptor.digest.as_str()),
                )
            })
            .collect();
        all.insert(
            set.name.clone(),
            serde_json::json!({
                "repository": set.repository,
                "reference": b.reference(),
                "digest": set.index.descriptor.digest.as_str(),
                "manifests": manifests,
                "tags": tags,
                "containerimage.digest": set.index.descriptor.digest.as_str(),
                "image.name": tags.join(","),
            }),
        );
    }
    Ok(serde_json::to_vec_pretty(&serde_json::Value::Object(all))?)
}
