//! Executes a [`Plan`]: compile every target, check every executable, pack every layer (in
//! parallel, each once), then assemble each binary's images and index into an [`ImageSet`].
//! Writing the sets anywhere is the sinks' job.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{anyhow, Context, Result};

use crate::base::{self, BaseImage};
use crate::compile::{self, CompileRequest};
use crate::contents;
use crate::elf;
use crate::image;
use crate::layer::{self, LayerSpec, PackOptions};
use crate::model::{Image, ImageSet, Layer};
use crate::plan::{ImagePlan, Plan};
use crate::registry::Registry;
use crate::store::BlobStore;
use crate::ui::Ui;

/// Which layer a packing job makes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LayerKey {
    /// The scratch skeleton, per compression setting (it is shared by every image that uses one).
    Skeleton(crate::model::Compression, i32),
    /// An image's assets.
    Assets(usize),
    /// An image's binary for one of its targets.
    Binary(usize, usize),
}

/// Compiles the plan's binaries: `(triple, bin)` → executable.
fn compile_all(plan: &Plan, ui: &Ui) -> Result<BTreeMap<(String, String), PathBuf>> {
    let mut exes = BTreeMap::new();
    for (triple, packages, bins) in plan.builds() {
        ui.status("Compiling", &format!("{} for {triple}", bins.join(", ")));
        let req = CompileRequest {
            manifest_path: &plan.manifest_path,
            workspace_root: &plan.workspace_root,
            packages,
            bins: bins.clone(),
            features: &plan.features,
            profile: &plan.profile,
            triple: &triple,
            cargo_config: &plan.cargo_config,
        };
        let artifacts = compile::compile(&req, ui)?;
        for bin in bins {
            let a = artifacts.iter().find(|a| a.bin == bin).ok_or_else(|| {
                anyhow!("cargo built no executable named `{bin}` for {triple} (its messages named none)")
            })?;
            exes.insert((triple.clone(), bin), a.path.clone());
        }
    }
    Ok(exes)
}

/// Runs `jobs` on up to `workers` threads; the first error wins.
fn pack_all(
    jobs: Vec<(LayerKey, LayerSpec, PackOptions)>,
    store: &BlobStore,
) -> Result<BTreeMap<LayerKey, Layer>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len().max(1));
    let queue = Mutex::new(jobs);
    let done = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let job = queue
                            .lock()
                            .map_err(|_| anyhow!("a packing worker panicked"))?
                            .pop();
                        let Some((key, spec, opts)) = job else {
                            return Ok(());
                        };
                        let l = layer::pack_cached(&spec, &opts, store)
                            .with_context(|| format!("packing layer: {}", spec.created_by))?;
                        done.lock()
                            .map_err(|_| anyhow!("a packing worker panicked"))?
                            .insert(key, l);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow!("a packing worker panicked"))??;
        }
        Ok(())
    })?;
    done.into_inner()
        .map_err(|_| anyhow!("a packing worker panicked"))
}

/// Each registry base's image for each `(image, target)` of the plan, resolved before anything
/// compiles so a wrong base fails fast.
fn resolve_bases(plan: &Plan, ui: &Ui) -> Result<BTreeMap<(usize, usize), BaseImage>> {
    let mut out = BTreeMap::new();
    if plan.images.iter().all(|i| i.base.reference().is_none()) {
        return Ok(out);
    }
    let registry = Registry::new(&plan.registry, ui)?;
    let mut resolved: BTreeMap<String, base::ResolvedBase> = BTreeMap::new();
    for (i, img) in plan.images.iter().enumerate() {
        let Some(r) = img.base.reference() else {
            continue;
        };
        if !resolved.contains_key(r.given()) {
            ui.status("Resolving", &format!("base image {r}"));
            resolved.insert(r.given().to_string(), base::resolve(r, &registry)?);
        }
        let rb = &resolved[r.given()];
        for (t, target) in img.targets.iter().enumerate() {
            out.insert((i, t), rb.image_for(&target.platform, &registry)?);
        }
    }
    Ok(out)
}

/// Builds every image of the plan into the plan's blob store. Returns one image set per binary,
/// in plan order.
pub fn build(plan: &Plan, ui: &Ui) -> Result<Vec<ImageSet>> {
    build_into(plan, ui, &BlobStore::open(plan.store_dir())?)
}

/// [`build`], packing into `store` (a temporary one, when nothing is written).
pub fn build_into(plan: &Plan, ui: &Ui, store: &BlobStore) -> Result<Vec<ImageSet>> {
    let bases = resolve_bases(plan, ui)?;
    let exes = compile_all(plan, ui)?;

    let mut jobs = Vec::new();
    for (i, img) in plan.images.iter().enumerate() {
        let opts = PackOptions {
            compression: img.compression,
            level: img.compression_level,
            mtime: plan.epoch,
        };
        let skeleton = LayerKey::Skeleton(img.compression, img.compression_level);
        if img.base.reference().is_none() && !jobs.iter().any(|(k, _, _)| *k == skeleton) {
            jobs.push((skeleton, crate::base::skeleton_layer(), opts));
        }
        if !img.assets.is_empty() {
            jobs.push((
                LayerKey::Assets(i),
                contents::assets_layer(&img.assets)?,
                opts,
            ));
        }
        for (t, target) in img.targets.iter().enumerate() {
            let exe = &exes[&(target.triple.clone(), img.bin.clone())];
            elf::check(exe, &target.platform)?;
            jobs.push((
                LayerKey::Binary(i, t),
                contents::binary_layer(exe, &img.bin_path, &target.triple),
                opts,
            ));
        }
    }
    ui.status("Packing", &format!("{} layers", jobs.len()));
    let layers = pack_all(jobs, store)?;

    plan.images
        .iter()
        .enumerate()
        .map(|(i, img)| assemble(plan, i, img, &layers, &bases))
        .collect()
}

/// One binary's images and index, from its packed layers.
fn assemble(
    plan: &Plan,
    i: usize,
    img: &ImagePlan,
    layers: &BTreeMap<LayerKey, Layer>,
    bases: &BTreeMap<(usize, usize), BaseImage>,
) -> Result<ImageSet> {
    let created = image::rfc3339(plan.epoch);
    let mut images = Vec::new();
    for (t, target) in img.targets.iter().enumerate() {
        let base = bases.get(&(i, t));
        let mut ours: Vec<Layer> = Vec::new();
        if base.is_none() {
            ours.push(layers[&LayerKey::Skeleton(img.compression, img.compression_level)].clone());
        }
        if let Some(a) = layers.get(&LayerKey::Assets(i)) {
            ours.push(a.clone());
        }
        ours.push(layers[&LayerKey::Binary(i, t)].clone());
        // The base's config carries its own layers' diff_ids and history; ours are appended.
        let config = image::config(
            base.map(|b| &b.config),
            &target.platform,
            &img.runtime,
            &ours,
            &created,
        )?;
        let all: Vec<Layer> = base
            .map(|b| b.layers.clone())
            .unwrap_or_default()
            .into_iter()
            .chain(ours)
            .collect();
        let descriptors: Vec<_> = all.iter().map(|l| &l.blob).collect();
        let base_annotation = base.map(|b| (b.name.as_str(), b.manifest_digest.as_str()));
        let annotations =
            image::manifest_annotations(&created, base_annotation, &img.manifest_annotations);
        let manifest = image::manifest(&config, &descriptors, &annotations)?;
        images.push(Image {
            platform: target.platform.clone(),
            triple: target.triple.clone(),
            layers: all,
            config,
            manifest,
        });
    }
    let index = image::index(&images, &img.index_annotations)?;
    Ok(ImageSet {
        name: img.bin.clone(),
        repository: img.repository.clone(),
        tags: img.tags.clone(),
        images,
        index,
        annotations: img.index_annotations.clone(),
    })
}
