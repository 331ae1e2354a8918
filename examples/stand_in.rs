//! Run the API stand-in from the command line, e.g. to record screens by hand.
//!
//! ```text
//! cargo run --example stand_in -- [--prefix /a/dev] [--quiet] PORT [SCRIPT.json]
//! ```
//!
//! PORT 0 picks a free port. SCRIPT.json is a JSON array of replies (see
//! `Reply::from_json` in tests/support/stand_in.rs), e.g.
//! `[{"text": "Hello"}, {"bash": "ls"}, {"usage_limit": {"reset_in_secs": 7200}}]`.
//! The first line on stdout is the base URL for `ANTHROPIC_BASE_URL`. Requests are
//! logged to stderr. More replies can be queued while it runs:
//! `curl -d '{"text":"hi"}' http://127.0.0.1:PORT/_stand_in/push`, and the record
//! read back with `curl http://127.0.0.1:PORT/_stand_in/requests`.
//! It runs until killed or until stdin closes when started with `--stdin`.

#[path = "../tests/support/stand_in.rs"]
mod stand_in;

use std::io::{Read, Write};

use stand_in::{Reply, StandIn};

fn usage() -> ! {
    eprintln!("usage: stand_in [--prefix P] [--quiet] [--stdin] PORT [SCRIPT.json]");
    std::process::exit(2);
}

fn main() {
    let mut prefix = String::new();
    let mut quiet = false;
    let mut until_stdin_closes = false;
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--prefix" => prefix = args.next().unwrap_or_else(|| usage()),
            "--quiet" => quiet = true,
            "--stdin" => until_stdin_closes = true,
            "-h" | "--help" => usage(),
            _ => positional.push(a),
        }
    }
    let port: u16 = match positional.first().map(|p| p.parse()) {
        Some(Ok(p)) => p,
        _ => usage(),
    };
    let script = match positional.get(1) {
        Some(path) => {
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
                eprintln!("stand_in: cannot read {path}: {e}");
                std::process::exit(1);
            });
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
                eprintln!("stand_in: {path} is not JSON: {e}");
                std::process::exit(1);
            });
            Reply::script_from_json(&v).unwrap_or_else(|e| {
                eprintln!("stand_in: {path}: {e}");
                std::process::exit(1);
            })
        }
        None => Vec::new(),
    };
    let server = StandIn::start_on(port, script).unwrap_or_else(|e| {
        eprintln!("stand_in: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1);
    });
    server.set_log(!quiet);
    println!("{}", server.base_url(&prefix));
    let _ = std::io::stdout().flush();
    if until_stdin_closes {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    } else {
        loop {
            std::thread::park();
        }
    }
}
