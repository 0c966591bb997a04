//! The build's identity, computed once here instead of by every run.
//!
//! A run's manifest names the binary that ran it, so that `--resume` and `merge` refuse to
//! mix shards or journals of different builds. Hashing the executable at every run read
//! tens of megabytes per run and per shard; the identity is instead a hash of what decides
//! the binary's behaviour — this crate's sources, its manifest and lock file, the build
//! profile and target, the compiler flags and the compiler's version — taken when the
//! crate is built and compiled in as `FAULTLINE_BUILD_ID`. Two builds of the same sources
//! with the same settings share it, wherever they were built.

use std::fs;
use std::path::{Path, PathBuf};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Every file under `dir`, recursively, in a stable order (bounded depth).
fn files(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() && depth < 16 {
            files(&path, depth + 1, out);
        } else if path.is_file() {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let mut inputs = Vec::new();
    files(&root.join("src"), 0, &mut inputs);
    for name in ["Cargo.toml", "Cargo.lock", "build.rs"] {
        inputs.push(root.join(name));
    }
    let mut h = FNV_OFFSET;
    for path in &inputs {
        let relative = path.strip_prefix(&root).unwrap_or(path);
        h = fnv(h, relative.to_string_lossy().as_bytes());
        h = fnv(h, &fs::read(path).unwrap_or_default());
    }
    for var in [
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "TARGET",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_CFG_TARGET_FEATURE",
        // Without the allocator feature seeds are metered by another allocator, or not.
        "CARGO_FEATURE_ALLOCATOR",
    ] {
        h = fnv(h, var.as_bytes());
        h = fnv(h, std::env::var(var).unwrap_or_default().as_bytes());
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Ok(out) = std::process::Command::new(rustc).arg("-vV").output() {
        h = fnv(h, &out.stdout);
    }
    println!("cargo:rustc-env=FAULTLINE_BUILD_ID={h:016x}");
    println!("cargo:rerun-if-changed=src");
    for name in ["Cargo.toml", "Cargo.lock", "build.rs"] {
        println!("cargo:rerun-if-changed={name}");
    }
}
