//! `tradesim-replay [INPUT] [-o OUTPUT]`: replays a JSONL command stream (stdin by default) and writes the
//! engine's events and final state hash as JSONL (stdout by default). Exit code 0 on success, 2 for bad input or
//! usage, 1 when reading or writing fails. All the work is in the library; this only wires files to it.

use anyhow::{Context, bail};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::process::ExitCode;
use tradesim_replay::{ReplayError, replay};

const USAGE: &str = "usage: tradesim-replay [INPUT] [-o OUTPUT]   (INPUT and OUTPUT default to stdin and stdout)";

/// Bad command-line arguments (exit code 2, like bad input).
#[derive(Debug, thiserror::Error)]
#[error("{0}\n{USAGE}")]
struct UsageError(String);

#[derive(Debug, Default)]
struct Args {
    input: Option<String>,
    output: Option<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, UsageError> {
    let mut parsed = Args::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "-o" | "--output" => {
                let path = args.next().ok_or_else(|| UsageError(format!("{arg} needs a file name")))?;
                if parsed.output.replace(path).is_some() {
                    return Err(UsageError("the output is given twice".into()));
                }
            }
            "-" => parsed.input = None,
            flag if flag.starts_with('-') => return Err(UsageError(format!("unknown option {flag}"))),
            _ if parsed.input.is_some() => return Err(UsageError("more than one input file".into())),
            _ => parsed.input = Some(arg),
        }
    }
    Ok(Some(parsed))
}

fn run() -> anyhow::Result<()> {
    let Some(args) = parse_args(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    let stdout = io::stdout();
    let writer: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path).with_context(|| format!("cannot create {path}"))?),
        None => Box::new(stdout.lock()),
    };
    let writer = BufWriter::new(writer);
    let result = match &args.input {
        Some(path) => {
            let file = File::open(path).with_context(|| format!("cannot open {path}"))?;
            replay(BufReader::new(file), writer)
        }
        None => replay(io::stdin().lock(), writer),
    };
    match (result, &args.input) {
        (Ok(_), _) => Ok(()),
        (Err(error), Some(path)) => Err(error).context(path.clone()),
        (Err(error), None) => bail!(error),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tradesim-replay: {error:#}");
            let bad_input = error.downcast_ref::<ReplayError>().is_some_and(ReplayError::is_input_error)
                || error.is::<UsageError>();
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}
