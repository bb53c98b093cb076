//! The system layer: the few operating-system operations the engine, the
//! jobserver and the CLI share, each written once, on `nix`'s safe wrappers
//! where they cover the need. A leaf: it imports nothing of ours.

pub mod cwd;
pub mod fd;
pub mod pause;
pub mod signals;
pub mod spawn;
