//! `redo-dep2rec`: a `.dep` shown as recfile text (goredo's `dep.rec`
//! schema, [`crate::state::rec::render`]).
//!
//! The operand names a target `T` (its `.redo/T.dep` is read), or directly a
//! `.dep` file inside a `.redo` directory (as `redo-dep2rec .redo/T.dep`).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::state::dep::Dep;

/// The `.dep` file the absolute, clean `operand` designates.
pub fn dep_file(operand: &Path) -> PathBuf {
    let in_redo = crate::paths::dir_of(operand)
        .file_name()
        .is_some_and(|n| n.as_bytes() == crate::state::REDO_DIR.as_bytes());
    if in_redo && operand.as_os_str().as_bytes().ends_with(b".dep") {
        operand.to_path_buf()
    } else {
        crate::target::Target::new(operand.to_path_buf()).dep_path()
    }
}

/// The recfile text of the `.dep` at `file`; the error names what failed
/// (`shown` is the file as the user should see it).
pub fn dep2rec(file: &Path, shown: &Path) -> Result<Vec<u8>, super::QueryError> {
    use super::QueryError;
    let shown = shown.display().to_string();
    let b = crate::state::dep::read_dep(file).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            QueryError::NoDep(shown.clone())
        } else {
            QueryError::Io {
                file: shown.clone(),
                source: e,
            }
        }
    })?;
    let d = Dep::decode(&b).map_err(|source| QueryError::Corrupt {
        file: shown,
        source,
    })?;
    Ok(crate::state::rec::render(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operand_forms() {
        assert_eq!(dep_file(Path::new("/a/b")), PathBuf::from("/a/.redo/b.dep"));
        assert_eq!(
            dep_file(Path::new("/a/.redo/b.dep")),
            PathBuf::from("/a/.redo/b.dep")
        );
        assert_eq!(
            dep_file(Path::new("/a/x.dep")),
            PathBuf::from("/a/.redo/x.dep.dep")
        );
    }
}
