//! Print what the detector makes of captured screens: `cargo run --example
//! observe -- DETECTOR FILE.ans...` (files from `tmux capture-pane -p -e`).

fn main() {
    let mut args = std::env::args().skip(1);
    let detector = args.next().expect("usage: observe DETECTOR FILE...");
    let table = orc::screen::detect::table_for(&detector).expect("known detector");
    for path in args {
        let bytes = std::fs::read(&path).expect("read");
        let screen = orc::screen::replay_capture(&bytes, 40, 120);
        let o = orc::screen::detect::observe(
            screen.screen(),
            std::time::Duration::from_secs(5),
            table,
            orc::screen::SETTLE,
        );
        println!("{path}: {:?} {:?} rule={} composer={:?} limit={:?} finished={:?} reply={:?} trust={:?}", o.state(), o.dialog, o.rule, o.composer, o.limit_line, o.finished_line, o.last_reply, o.trust_folder);
    }
}
