//! The inode data goredo stores per dependency (size, inode number, ctime,
//! mtime) and the equality rule behind `REDO_INODE_TRUST`.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InodeTrust {
    /// Only the size is trusted; every same-size file is hashed.
    None,
    /// Size, inode number and ctime equal ⇒ unchanged (goredo's default).
    Ctime,
    /// Size, inode number and mtime equal ⇒ unchanged.
    Mtime,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inode {
    pub size: u64,
    pub ino: u64,
    pub ctime_sec: u64,
    pub ctime_nsec: u64,
    pub mtime_sec: u64,
    pub mtime_nsec: u64,
}

impl Inode {
    /// The inode data of a commit's intent record (see `engine::commit`): all
    /// zero, which no file has (inode number 0 is never allocated), so it
    /// never equals a stat and marks "this target's commit did not finish".
    pub const INTENT: Inode = Inode {
        size: 0,
        ino: 0,
        ctime_sec: 0,
        ctime_nsec: 0,
        mtime_sec: 0,
        mtime_nsec: 0,
    };

    pub fn is_intent(&self) -> bool {
        *self == Inode::INTENT
    }

    pub fn from_meta(m: &Metadata) -> Inode {
        Inode {
            size: m.size(),
            ino: m.ino(),
            ctime_sec: m.ctime() as u64,
            ctime_nsec: m.ctime_nsec() as u64,
            mtime_sec: m.mtime() as u64,
            mtime_nsec: m.mtime_nsec() as u64,
        }
    }

    /// The six fields in the order goredo's `.dep` stores them (the run
    /// share uses the same order).
    pub fn fields(&self) -> [u64; 6] {
        [
            self.size,
            self.ino,
            self.ctime_sec,
            self.ctime_nsec,
            self.mtime_sec,
            self.mtime_nsec,
        ]
    }

    /// The inverse of [`Inode::fields`].
    pub fn from_fields(f: [u64; 6]) -> Inode {
        let [size, ino, ctime_sec, ctime_nsec, mtime_sec, mtime_nsec] = f;
        Inode {
            size,
            ino,
            ctime_sec,
            ctime_nsec,
            mtime_sec,
            mtime_nsec,
        }
    }

    /// goredo's `Inode.Equals`: size and inode number always, plus the trusted
    /// time. With trust `none` two files are never equal by inode data alone
    /// for the out-of-date check; the caller then hashes.
    pub fn equals(&self, other: &Inode, trust: InodeTrust) -> bool {
        if self.size != other.size || self.ino != other.ino {
            return false;
        }
        match trust {
            InodeTrust::Ctime => {
                self.ctime_sec == other.ctime_sec && self.ctime_nsec == other.ctime_nsec
            }
            InodeTrust::Mtime => {
                self.mtime_sec == other.mtime_sec && self.mtime_nsec == other.mtime_nsec
            }
            InodeTrust::None => true,
        }
    }
}

/// Inode data for tests: size `n`, inode `n + 1`, fixed times.
#[cfg(test)]
pub fn sample(n: u64) -> Inode {
    Inode {
        size: n,
        ino: n + 1,
        ctime_sec: 3,
        ctime_nsec: 4,
        mtime_sec: 5,
        mtime_nsec: 6,
    }
}
