//! The allocator: mimalloc for processes that work on a tree, glibc's for
//! the small ones a build starts by the thousand.
//!
//! A check allocates a few small memos per file from several threads, and
//! glibc grows each thread's arena one page at a time (an `mprotect` each,
//! ~2000 per no-op over 10000 targets) and frees more slowly. mimalloc (v2,
//! with huge pages on its arenas) makes the 10000-target no-op 85 -> 60 ms
//! (tree) and 96 -> 69 ms (flat); see compat/bench/RESULTS.md.
//!
//! But mimalloc costs ~0.25 ms more to start and end a process, and a build
//! runs a `redo-ifchange "$2.in"` inside nearly every `.do`: a full build of
//! 10000 such targets was 18% slower. Those run inside a `.do`
//! (`REDO_DEP_FD` is set) with a few operands, mostly sources, and keep
//! glibc's allocator.
//!
//! The choice is made once, from `.preinit_array` (before the C runtime's
//! constructors and Rust's first allocation), and never changes: every
//! pointer is freed by the allocator that made it.
//!
//! mimalloc keeps its defaults. The free pages of exited threads are not
//! purged at once (`abandoned_page_purge`, set until session 16): a query's
//! threads end after each round and level of its check, and the next ones
//! then took fresh pages, which this VM zeroes dearly. Without the purge,
//! `redo-ood` is 2-7% faster on deep, mixed, flat and dirs (21 rounds each),
//! no-ops and builds are unchanged, and peak RSS rises by at most 4 MB
//! (compat/bench/RESULTS.md, session 16).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

use mimalloc::MiMalloc;

static USE_MIMALLOC: AtomicBool = AtomicBool::new(false);

pub struct Chosen;

#[global_allocator]
static GLOBAL: Chosen = Chosen;

fn mi() -> bool {
    USE_MIMALLOC.load(Ordering::Relaxed)
}

// SAFETY: each call goes to the one allocator chosen before the first
// allocation, which also frees and reallocates what it allocated.
unsafe impl GlobalAlloc for Chosen {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if mi() {
            MiMalloc.alloc(l)
        } else {
            System.alloc(l)
        }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if mi() {
            MiMalloc.alloc_zeroed(l)
        } else {
            System.alloc_zeroed(l)
        }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if mi() {
            MiMalloc.dealloc(p, l)
        } else {
            System.dealloc(p, l)
        }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if mi() {
            MiMalloc.realloc(p, l, new)
        } else {
            System.realloc(p, l, new)
        }
    }
}

/// A redo inside a `.do` with more operands than this (an `all.do` over
/// thousands of targets) still has a tree's worth of work.
const FEW_OPERANDS: std::ffi::c_int = 64;

/// glibc calls `.preinit_array` functions with `main`'s arguments.
extern "C" fn choose(
    argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
    _envp: *const *const std::ffi::c_char,
) {
    // SAFETY: getenv before any thread exists; the name is NUL-terminated.
    let inside_a_do = unsafe { !libc::getenv(ferredo::env::DEP_FD_C.as_ptr()).is_null() };
    if !inside_a_do || argc > FEW_OPERANDS {
        USE_MIMALLOC.store(true, Ordering::Relaxed);
    }
}

#[used]
#[link_section = ".preinit_array"]
static CHOOSE: extern "C" fn(
    std::ffi::c_int,
    *const *const std::ffi::c_char,
    *const *const std::ffi::c_char,
) = choose;
