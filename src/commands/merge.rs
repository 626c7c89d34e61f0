//! `cargo imagebuild merge`: one multi-platform index from per-platform OCI layouts built on
//! separate machines (the image model's `merge` assembles it), written to the outputs asked for
//! through the same sinks a build uses.

use std::sync::Arc;

use anyhow::{Context, Result};

use crate::events::Listener;
use crate::image::signature::{KeySigner, Signer};
use crate::image::store::BlobStore;
use crate::plan::options::MergeOptions;
use crate::plan::output::OutputSpec;
use crate::registry::Connector;
use crate::run::{deliver, Outcome, Sinks};
use crate::sink::load::Loaders;
use crate::util::report::Reporter;

/// `cargo imagebuild merge`: one index from per-platform layouts (see
/// the image model's `merge`), written to the outputs asked for. A push sends only the blobs the
/// registry lacks.
pub fn merge(opts: &MergeOptions, listener: impl Listener + 'static) -> Result<Outcome> {
    let ui = &Reporter::new(std::sync::Arc::new(listener));
    let mut outputs = OutputSpec::resolve(&opts.outputs, false, None, None)?;
    // A missing or empty --registry-ca is refused before anything is read or written.
    if let Some(ca) = &opts.registry.ca {
        crate::registry::trust::UserCa::read(ca)?;
    }
    if opts.push && !outputs.contains(&OutputSpec::Registry) {
        outputs.push(OutputSpec::Registry);
    }
    if outputs.is_empty() {
        anyhow::bail!(
            "merge needs somewhere to put the index: --push -t REF, or --output type=oci,dest=DIR"
        );
    }
    // The key is read (and an unusable one refused) before any layout is.
    let key = match &opts.sign_key {
        Some(p) => Some(("--sign-key", p.clone())),
        None => opts
            .env
            .path(crate::plan::ENV_SIGN_KEY)
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| (crate::plan::ENV_SIGN_KEY, p)),
    };
    let signer = match key {
        Some((what, path)) => {
            Some(Arc::new(KeySigner::read(what, &path, &opts.env)?) as Arc<dyn Signer>)
        }
        None => None,
    };
    // The blob store of the merge: beside the first layout, so blobs are hard-linked, not copied.
    let beside = opts
        .dirs
        .first()
        .and_then(|d| d.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let scratch = crate::util::temp::Dir::new(Some(beside), "merge")
        .with_context(|| format!("creating a temporary blob store in {}", beside.display()))?;
    let store = BlobStore::open(scratch.path())?;
    let mut set = crate::image::merge::merge_layouts(&opts.dirs, &store)?;
    if !opts.tags.is_empty() {
        let (repository, tags) = crate::plan::naming::repository_and_tags(
            &set.name,
            Some(set.repository.clone()),
            &opts.tags,
            false,
            outputs.contains(&OutputSpec::Registry),
        )?;
        set.name = repository
            .rsplit('/')
            .next()
            .unwrap_or(&repository)
            .to_string();
        set.repository = repository;
        set.tags = tags;
    }
    ui.status(
        "Merged",
        &format!(
            "{} platforms into {} ({})",
            set.images.len(),
            set.index.descriptor.digest,
            set.images
                .iter()
                .map(|i| i.platform.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let registry = Arc::new(Connector::new(&opts.registry, &opts.env, ui));
    let loaders = Arc::new(Loaders::new(&opts.env));
    let sinks = Sinks {
        registry: &registry,
        loaders: &loaders,
        env: &opts.env,
        signer: signer.as_ref(),
    };
    let built = deliver(set, &outputs, &sinks, &store, ui)?;
    Ok(Outcome {
        images: vec![built],
        pushed: outputs.contains(&OutputSpec::Registry),
    })
}
