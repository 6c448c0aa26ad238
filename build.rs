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
/// run of the shipped build under callgrind). Scattered, they touch most of
/// the code's 64 KiB windows, and each touched window stays resident: about
/// 11 MiB of a 17 MB `.text` for 2.7 MB of code run. A name the list holds
/// that this build lacks (another compiler, another dependency version) is
/// skipped, so a stale list costs memory, never the build. Only rust-lld,
/// x86_64-unknown-linux-gnu's linker since Rust 1.90, reads the list.
fn order_functions() {
    const ORDER: &str = "assets/link-order.txt";
    // The folder, not the list: cargo takes a path that does not exist as
    // changed on every build, and the list may not exist yet.
    println!("cargo:rerun-if-changed=assets");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let lld_target = var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu";
    if !lld_target || var("PROFILE") != "release" || !Path::new(ORDER).exists() {
        return;
    }
    let list = Path::new(&var("CARGO_MANIFEST_DIR")).join(ORDER);
    for arg in [
        format!("--symbol-ordering-file={}", list.display()),
        "--no-warn-symbol-ordering".to_owned(),
    ] {
        println!("cargo:rustc-link-arg-bin=workbench-bot=-Wl,{arg}");
    }
}
