//! `sqlx::migrate!` embeds `migrations/` at compile time, and a proc macro
//! cannot tell cargo which files it read: without this, an edited or added
//! migration would not rebuild the binary that carries it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
