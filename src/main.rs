fn main() -> std::process::ExitCode {
    script_gateway::cli::main()
}
