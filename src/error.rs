//! Typed errors of the engine and the exit codes they map to.
//!
//! Every message names what it is about (usually a target, relative to the
//! invoking directory), says what happened, and where it helps, how to fix it.

use std::fmt;
use std::io;

#[derive(Debug)]
pub enum Error {
    /// Bad command line or environment value. Exit 2 for argv, 1 for env.
    Usage(String),
    /// A configuration value (environment variable) is invalid.
    Config(String),
    /// One or more targets failed; their own messages were already reported.
    BuildFailed(String),
    /// An I/O failure with context ("reading a/.redo/b.dep").
    Io { context: String, source: io::Error },
    /// A .dep or other state file that cannot be understood.
    State(String),
    /// The build was interrupted by a signal; exit 128 + signal.
    Interrupted(i32),
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Interrupted(sig) => 128 + sig,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Config(m) | Error::BuildFailed(m) | Error::State(m) => {
                f.write_str(m)
            }
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Interrupted(sig) => write!(f, "interrupted by signal {sig}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Attach context to io results.
pub trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}
