//! Two things cargo cannot know on its own.
//!
//! `sqlx::migrate!` embeds `migrations/` at compile time, and a proc macro
//! cannot tell cargo which files it read: without the first line, an edited or
//! added migration would not rebuild the binary that carries it.
//!
//! The release binary's functions are laid out in the order
//! `assets/link-order.txt` gives (see `order_functions`).
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    order_functions();
}

/// Puts the functions the bot runs at start-up and for each request next to
/// one another at the start of its code (`bench/order` lists them, from a
/// run of the shipped build under callgrind). Scattered, they touched most of
/// the code's pages, and each touched page stays resident: 13 MiB of the
/// binary for 2.9 MB of code run. A name the list holds that this build lacks
/// is skipped, so a stale list costs memory, never the build; a warning says
/// when it is stale. Only rust-lld, x86_64-unknown-linux-gnu's linker since
/// Rust 1.90, reads the list.
fn order_functions() {
    const ORDER: &str = "assets/link-order.txt";
    // The folder, not the list: cargo takes a path that does not exist as
    // changed on every build, and the list may not exist yet.
    println!("cargo:rerun-if-changed=assets");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let lld_target = var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let Ok(text) = std::fs::read_to_string(ORDER) else {
        return;
    };
    if !lld_target || var("PROFILE") != "release" {
        return;
    }
    // Another linker (GNU ld, gold) would refuse the option and fail the link.
    if !var("RUSTC_LINKER").is_empty() || var("CARGO_ENCODED_RUSTFLAGS").contains("linker") {
        println!("cargo:warning=another linker is configured: {ORDER} is not used");
        return;
    }
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=Cargo.lock");
    // Symbol names carry a hash of the compiler and of every dependency's
    // version and features: when any changes, the list names nothing.
    let stamp = format!("# for: {}", build_stamp(&var("RUSTC")));
    if !text.lines().any(|l| l == stamp) {
        println!(
            "cargo:warning={ORDER} was written for another compiler, Cargo.toml or Cargo.lock: \
             the code is not laid out by use (same behaviour, several MiB more resident). \
             Run bench/order to write it again."
        );
    }
    let list = Path::new(&var("CARGO_MANIFEST_DIR")).join(ORDER);
    for arg in [
        format!("--symbol-ordering-file={}", list.display()),
        "--no-warn-symbol-ordering".to_owned(),
    ] {
        println!("cargo:rustc-link-arg-bin=workbench-bot=-Wl,{arg}");
    }
}

/// FNV-1a (64 bits) of `rustc -V`, Cargo.toml and Cargo.lock, as bench/order
/// writes it: what the symbol names' hashes depend on.
fn build_stamp(rustc: &str) -> String {
    let version = std::process::Command::new(if rustc.is_empty() { "rustc" } else { rustc })
        .arg("-V")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [version, read("Cargo.toml"), read("Cargo.lock")] {
        for byte in part {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("fnv1a64 {hash:016x}")
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}
