# A tiny cargo crate built from redo. No -j: cargo (and the rustc it runs) joins redo's
# jobserver through CARGO_MAKEFLAGS, so under `redo -j4` its jobs count against the
# same 4 slots as everything else. The target dir stays inside this directory.
redo-ifchange crate/Cargo.toml crate/Cargo.lock crate/src/main.rs
export CARGO_TARGET_DIR="$PWD/crate/target"
cargo build --release --offline --manifest-path crate/Cargo.toml >&2
cp crate/target/release/hello-rs "$3"
