//! Typed errors of the engine and the exit codes they map to.
//!
//! Every message names what it is about (usually a target, relative to the
//! invoking directory, or the file or fd a system call failed on), says what
//! happened, and where it helps, how to fix it.

use std::fmt;
use std::io;
use std::process::ExitStatus;

/// Why a build or a query stopped.
#[derive(Debug)]
pub enum Error {
    /// A configuration value (environment variable) is invalid.
    Config(String),
    /// One or more targets failed; their own messages were already reported.
    BuildFailed(String),
    /// An I/O failure with context ("recording dependencies into REDO_DEP_FD=5").
    Io { context: String, source: io::Error },
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
            Error::Interrupted(sig) => 128 + sig,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) | Error::BuildFailed(m) => f.write_str(m),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Interrupted(sig) => write!(f, "interrupted by signal {sig}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Why one job (the build of one target) failed; shown after the target's
/// name, as goredo shows its errors.
#[derive(Debug)]
pub enum JobError {
    /// A system call failed: what we were doing, on which file or fd.
    Io { doing: String, source: io::Error },
    /// No `.do` file builds the target.
    NoDo,
    /// The `.do` exited non-zero, or was killed.
    DoFailed(ExitStatus),
    /// The target (as shown) was changed outside redo, and
    /// `REDO_STOP_IF_MODIFIED=1` makes that an error.
    ExternallyModified(String),
    /// The `.do` broke an output rule (wrote `$1`, or both `$3` and stdout).
    OutputRule(&'static str),
    /// A record that cannot be written into a `.dep` (say, a path too long).
    Record(String),
    /// An argument or variable for the `.do` holds a NUL byte.
    Nul(String),
}

impl JobError {
    pub fn io(doing: impl Into<String>, source: io::Error) -> Self {
        JobError::Io {
            doing: doing.into(),
            source,
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::os::unix::process::ExitStatusExt;
        match self {
            JobError::Io { doing, source } => write!(f, "{doing}: {source}"),
            JobError::NoDo => f.write_str("no .do found"),
            JobError::DoFailed(st) => match st.signal() {
                Some(sig) => write!(f, "killed by signal {sig}"),
                None => write!(f, "exit status {}", st.code().unwrap_or(-1)),
            },
            JobError::ExternallyModified(t) => write!(f, "{t} externally modified"),
            JobError::OutputRule(m) => f.write_str(m),
            JobError::Record(m) => f.write_str(m),
            JobError::Nul(what) => write!(f, "{what} holds a NUL byte"),
        }
    }
}

impl std::error::Error for JobError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JobError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
