//! Builds the guest program (crates/guest, its own workspace) statically for the guest, so it runs
//! in the busybox initramfs: `+crt-static` on the gnu target. The binary is embedded by image.rs.

use std::path::PathBuf;
use std::process::Command;

const TARGET: &str = "x86_64-unknown-linux-gnu";

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let guest = here.join("../guest");
    for p in [
        "../guest/src",
        "../guest/Cargo.toml",
        "../guest/Cargo.lock",
        "../proto/src",
        "../proto/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }
    // Its own target directory, shared by every profile of the host build.
    let target_dir = here.join("../../target/guest");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--locked", "--target", TARGET])
        .arg("--manifest-path")
        .arg(guest.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the guest program failed");
    let bin = target_dir.join(TARGET).join("release/harness-guest");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("harness-guest");
    std::fs::copy(&bin, &out).expect("copy the guest program");
}
