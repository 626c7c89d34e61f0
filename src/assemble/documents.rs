//! Document assembly: one binary's packed layers (a registry base's first) become a config and
//! a manifest per platform and one index over them ([`crate::image::document`] writes the bytes).

use std::collections::BTreeMap;

use anyhow::Result;

use crate::image::document;
use crate::image::model::{Image, ImageSet, Layer};
use crate::plan::{ImagePlan, Plan};
use crate::provision::base::BaseImage;

/// Which layer a packing job makes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LayerKey {
    /// The scratch skeleton, per compression setting (it is shared by every image that uses one).
    Skeleton(crate::image::model::Compression),
    /// An image's assets.
    Assets(usize),
    /// An image's binary for one of its targets.
    Binary(usize, usize),
}

/// One binary's images and index, from its packed layers.
pub fn assemble(
    plan: &Plan,
    i: usize,
    img: &ImagePlan,
    layers: &BTreeMap<LayerKey, Layer>,
    bases: &BTreeMap<(usize, usize), BaseImage>,
) -> Result<ImageSet> {
    let created = document::rfc3339(plan.epoch);
    let mut images = Vec::new();
    for (t, target) in img.targets.iter().enumerate() {
        let base = bases.get(&(i, t));
        let mut ours: Vec<Layer> = Vec::new();
        if base.is_none() {
            ours.push(layers[&LayerKey::Skeleton(img.compression)].clone());
        }
        if let Some(a) = layers.get(&LayerKey::Assets(i)) {
            ours.push(a.clone());
        }
        ours.push(layers[&LayerKey::Binary(i, t)].clone());
        // The base's config carries its own layers' diff_ids and history; ours are appended.
        let config = document::config(
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
        let annotations = document::manifest_annotations(
            &img.described,
            base_annotation,
            &img.annotations.for_manifest(&target.platform),
        );
        let manifest = document::manifest(&config, &descriptors, &annotations)?;
        images.push(Image {
            platform: target.platform.clone(),
            triple: target.triple.clone(),
            layers: all,
            config,
            manifest,
        });
    }
    let index_annotations = document::index_annotations(&img.described, &img.annotations.index);
    let index = document::index(&images, &index_annotations, &|p| {
        img.annotations.for_descriptor(p)
    })?;
    Ok(ImageSet {
        name: img.bin.clone(),
        repository: img.repository.clone(),
        tags: img.tags.clone(),
        images,
        index,
        attachments: Vec::new(),
    })
}
