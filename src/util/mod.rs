//! Leaves that every stage uses and that know nothing of images or cargo: content digests,
//! terminal output, running a child process under a deadline, and writing files atomically.

pub mod atomic;
pub mod digest;
pub mod process;
pub mod ui;
