fn main() {
    // rusqlite_migration embeds migrations/ at compile time; new files must trigger a rebuild.
    println!("cargo:rerun-if-changed=migrations");
}
