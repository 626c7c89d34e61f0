//! The assemble stage: from a plan, its routes and the provisioned bases to one
//! [`ImageSet`](crate::image::model::ImageSet) per binary, every layer in the blob store.
//! [`pipeline`] is the entry ([`build_into`]): it has [`crate::compile`] build the targets one
//! invocation after another and packs each target's layers the moment cargo names its last
//! executable, while cargo goes on with the others. [`contents`] says what goes in each of our
//! layers (the binary, the assets), [`documents`] turns packed layers into configs, manifests and
//! an index, and [`timing`] records where the time went (`-v`).

pub mod contents;
pub mod documents;
pub mod pipeline;
pub mod timing;

pub use pipeline::build_into;
