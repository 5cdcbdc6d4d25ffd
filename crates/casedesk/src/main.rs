//! The casedesk binary: `serve`, the administration commands and the demo data.

mod cli;
mod config;
mod demo;
mod kb;
mod mailgate;
mod ops;
mod shell;
mod sla;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("casedesk: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The gate speaks to its MTA in exit statuses, not in the usual success or failure.
    if let cli::Command::Mailgate(gate) = args.command {
        return ExitCode::from(runtime.block_on(mailgate::run(gate)));
    }
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("casedesk: {e:#}");
            ExitCode::FAILURE
        }
    }
}
