//! Test fixtures: trees of real files with hand-written `.dep`s, for the
//! unit tests of the checker and the queries. A leaf (test builds only).
use crate::state::dep::{self, Dep, Record};
use crate::state::inode::Inode;
use std::path::{Path, PathBuf};

pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Tree {
        Tree {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The target `rel` below the root.
    pub fn t(&self, rel: &str) -> crate::target::Target {
        crate::target::Target::new(self.p(rel))
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.p(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// The ifchange record of an existing file, relative to `from_dir`.
    pub fn ifchange(&self, from_dir: &Path, rel_path: &str) -> Record {
        let abs = crate::paths::abs_join(from_dir, Path::new(rel_path));
        match std::fs::metadata(&abs) {
            Ok(m) => Record::Ifchange {
                inode: Inode::from_meta(&m),
                hash: dep::hash_file(&abs).unwrap(),
                path: rel_path.into(),
            },
            // a file since deleted: recorded with made-up data
            Err(_) => Record::Ifchange {
                inode: Inode::default(),
                hash: [0; 32],
                path: rel_path.into(),
            },
        }
    }

    /// Targets `t0` to `t{n-1}` at the root, each holding its own name and
    /// recording `deps`, then a pause: only `.dep` files quiet for a while
    /// go into a directory's cache (see `state::depcache`). Returns the names.
    pub fn quiet_targets(&self, n: usize, deps: &[(&str, &str)]) -> Vec<String> {
        let names: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
        for name in &names {
            self.target(name, name, deps);
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        names
    }

    /// Write target `t` (relative to the root) with `content`, then its
    /// .dep from `deps` (paths relative to the target's dir; ifchange
    /// records are filled from the current files), plus its self-record.
    pub fn target(&self, t: &str, content: &str, deps: &[(&str, &str)]) {
        self.write(t, content);
        let abs = self.p(t);
        let dir = abs.parent().unwrap().to_path_buf();
        let mut records = Vec::new();
        for (kind, path) in deps {
            records.push(match *kind {
                "ifchange" => self.ifchange(&dir, path),
                "ifcreate" => Record::Ifcreate(path.into()),
                "nonexistent" => Record::IfchangeNonexistent(path.into()),
                "always" => Record::Always,
                k => panic!("{k}"),
            });
        }
        records.push(self.ifchange(&dir, abs.file_name().unwrap().to_str().unwrap()));
        let d = Dep {
            build: [1; 16],
            records,
        };
        std::fs::create_dir_all(dir.join(".redo")).unwrap();
        std::fs::write(
            crate::target::Target::new(abs).dep_path(),
            d.encode().unwrap(),
        )
        .unwrap();
    }
}
