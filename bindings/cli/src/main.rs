//! The `smc` command-line program (its code is [`smc_cli::run_cli`], shared with `python -m smc`).

fn main() -> std::process::ExitCode {
    let code = smc_cli::run_cli(std::env::args_os());
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
