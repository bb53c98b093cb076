//! What the checker concludes about a target ([`Verdict`]) and why a target
//! is out of date ([`Reason`]), as data: `redo -d`, `redo-ood --why` and the
//! run share all explain themselves from these.

use std::path::{Path, PathBuf};

/// Why a target is out of date: the first cause its check met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// No `.dep` and not a source: never built by redo.
    NeverBuilt,
    /// The `.dep` is the intent of a commit that a kill cut short.
    CommitCutShort,
    /// The `.dep` cannot be parsed (message says why).
    CorruptDep(String),
    /// The `.dep` holds an `always` record (redo-always).
    Always,
    /// The target file does not exist.
    Missing,
    /// The target file is not what its build made (its own record differs):
    /// edited outside redo. A build leaves it and warns (goredo's
    /// "externally modified"), so a dependant is not out of date for it.
    Edited,
    /// A file recorded with redo-ifcreate (or a more specific .do) appeared.
    IfcreateAppeared(PathBuf),
    /// An ifchange dependency is gone.
    DepMissing(PathBuf),
    /// An ifchange dependency's size differs.
    DepSize(PathBuf),
    /// An ifchange dependency's content hash differs.
    DepHash(PathBuf),
    /// A dependency that produced nothing earlier now exists.
    DepAppeared(PathBuf),
    /// A dependency is itself out of date.
    DepOod(PathBuf, Box<Reason>),
}

impl Reason {
    /// One line, paths shown through `show` (relative to the user's cwd).
    pub fn describe(&self, show: &dyn Fn(&Path) -> String) -> String {
        match self {
            Reason::NeverBuilt => "never built".into(),
            Reason::CorruptDep(m) => format!("unreadable .dep: {m}"),
            Reason::Always => "always rebuilt (redo-always)".into(),
            Reason::CommitCutShort => "its last build was cut short during its commit".into(),
            Reason::Missing => "target does not exist".into(),
            Reason::Edited => "modified outside redo since its build (a build leaves it)".into(),
            Reason::IfcreateAppeared(p) => format!("{} appeared (ifcreate)", show(p)),
            Reason::DepMissing(p) => format!("{} is missing", show(p)),
            Reason::DepSize(p) if is_do(p) => format!("{} (.do) changed: size differs", show(p)),
            Reason::DepHash(p) if is_do(p) => format!("{} (.do) changed: content differs", show(p)),
            Reason::DepSize(p) => format!("{} changed: size differs", show(p)),
            Reason::DepHash(p) => format!("{} changed: content differs", show(p)),
            Reason::DepAppeared(p) => format!("{} appeared", show(p)),
            Reason::DepOod(p, r) => format!("{} is out of date: {}", show(p), r.describe(show)),
        }
    }
}

/// Is `p` a `.do` file (a changed rule reads differently from a changed input)?
fn is_do(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "do")
}

/// What a check concludes about a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A source file (or a missing non-target): nothing to build.
    Source,
    /// A target that needs no build.
    UpToDate,
    /// A target to build, and why.
    Ood(Reason),
}

impl Verdict {
    /// Must the target be built?
    pub fn is_ood(&self) -> bool {
        matches!(self, Verdict::Ood(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(p: &Path) -> String {
        p.display().to_string()
    }

    #[test]
    fn describe_names_do_files_and_nests_reasons() {
        let d = Reason::DepSize(PathBuf::from("x.do"));
        assert_eq!(d.describe(&show), "x.do (.do) changed: size differs");
        let h = Reason::DepHash(PathBuf::from("a.c"));
        assert_eq!(h.describe(&show), "a.c changed: content differs");
        let nested = Reason::DepOod(PathBuf::from("a.o"), Box::new(h));
        assert_eq!(
            nested.describe(&show),
            "a.o is out of date: a.c changed: content differs"
        );
    }

    #[test]
    fn only_ood_is_ood() {
        assert!(Verdict::Ood(Reason::Missing).is_ood());
        assert!(!Verdict::UpToDate.is_ood());
        assert!(!Verdict::Source.is_ood());
    }
}
