//! refinery's `embed_migrations!` tracks the files it embeds but not the directory, so a new migration would not
//! rebuild the crate without this.

fn main() {
    println!("cargo::rerun-if-changed=../../migrations");
}
