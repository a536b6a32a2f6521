//! The `script-gateway` binary: everything is in the library's `cli`.

fn main() -> std::process::ExitCode {
    script_gateway::cli::main()
}
