//! `tradesim-loadtest`: the load and chaos run (see the library). Exits non-zero when a goal of zero loss or
//! duplication is missed.

use std::process::ExitCode;
use tradesim_loadtest::{Settings, run};

const HELP: &str = "tradesim-loadtest [--users N] [--duration SECONDS] [--chaos stall,postgres,gateway,kill|none]
  [--order-every-ms MS] [--disrupt-every SECONDS] [--ramp-within SECONDS] [--hosts N] [--dir DIR] [--report DIR|none]
  [--dev-bin PATH] [--host-bin PATH] [--guest-wasm PATH]
Defaults: 1000 users, 120 s, a ramp of at most 600 s, every chaos event, the report in docs/loadtest, tradesim-dev and tradesim-host
from beside this executable, the release engine module.";

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TRADESIM_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    let settings = Settings::from_args(args).map_err(|e| anyhow::anyhow!("{e}\n{HELP}"))?;
    let result = run(&settings).await?;
    println!();
    for goal in result.goals() {
        println!(
            "{:<40} {:<26} {:<40} {}",
            goal.name,
            goal.target,
            goal.measured,
            if goal.met { "met" } else { "MISSED" }
        );
    }
    Ok(if result.integrity_met() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
