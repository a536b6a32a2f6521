fn main() {
    // migrations/sqlite/ and migrations/postgres/ are embedded at compile time; new files must
    // trigger a rebuild.
    println!("cargo:rerun-if-changed=migrations");
    // The web UI is embedded with include_dir too.
    println!("cargo:rerun-if-changed=static");
    // So are the original gateway's helper modules for Python scripts.
    println!("cargo:rerun-if-changed=compat");
}
