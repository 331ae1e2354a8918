use clap::Parser;

fn main() {
    let cli = orc::cli::Cli::parse();
    if let orc::cli::Cmd::SimAgent(args) = cli.cmd {
        // The simulated agent is a plain terminal program: no runtime, no logging.
        if let Err(e) = orc::sim::run(args) {
            eprintln!("sim-agent: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let filter = std::env::var("ORC_LOG").unwrap_or_else(|_| {
        if matches!(cli.cmd, orc::cli::Cmd::Supervise { detach: false }) {
            "info".into()
        } else {
            "warn".into()
        }
    });
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(orc::cli::run(cli));
    if let Err(e) = result {
        eprintln!("orc: {}", orc::shown::visible(&format!("{e:#}")));
        let code = orc::cli::exit_code(&e);
        rt.shutdown_timeout(std::time::Duration::from_millis(200));
        std::process::exit(code);
    }
}
