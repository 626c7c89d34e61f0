//! The one place that turns the planned outputs into sinks, one per output, specialized to one
//! binary (`{bin}` in a dest replaced), as ko's `makePublisher` turns options into publishers.

use std::sync::Arc;

use super::{cacheonly, containerd, docker_archive, layout, load, oci_archive, push, Sink};
use crate::image::signature::Signer;
use crate::plan::output::OutputSpec;
use crate::registry::Connector;

/// The sinks for `outputs`, already specialized to the binary `bin`; pushes go through
/// `registry`, connected on first use, and loads through `loaders`, probed once each.
pub fn for_outputs(
    outputs: &[OutputSpec],
    bin: &str,
    registry: &Arc<Connector>,
    loaders: &Arc<load::Loaders>,
    signer: Option<&Arc<dyn Signer>>,
) -> Vec<Box<dyn Sink>> {
    outputs
        .iter()
        .map(|o| match o.for_bin(bin) {
            OutputSpec::OciDir { dest } => Box::new(layout::LayoutDir {
                dest,
                signer: signer.cloned(),
            }) as Box<dyn Sink>,
            OutputSpec::OciArchive { dest, platform } => {
                Box::new(oci_archive::LayoutArchive { dest, platform })
            }
            OutputSpec::DockerArchive { dest, platform } => {
                Box::new(docker_archive::DockerArchive { dest, platform })
            }
            OutputSpec::Load {
                loader,
                context,
                platform,
            } => Box::new(load::Load {
                loader,
                context,
                platform,
                loaders: loaders.clone(),
            }),
            OutputSpec::Containerd { namespace, address } => {
                Box::new(containerd::Containerd { namespace, address })
            }
            OutputSpec::CacheOnly => Box::new(cacheonly::CacheOnly),
            OutputSpec::Registry => Box::new(push::Push {
                registry: registry.clone(),
                signer: signer.cloned(),
            }),
        })
        .collect()
}
