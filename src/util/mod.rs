//! Leaves that every stage uses and that know nothing of images or cargo: content digests,
//! terminal output and the events of a build, running a child process under a deadline, writing files atomically, and sizes as people write them.

pub mod atomic;
pub mod digest;
pub mod events;
pub mod process;
pub mod size;
pub mod temp;
pub mod ui;
