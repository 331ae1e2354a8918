//! orc: a supervisor that keeps a team of AI coding agents working in tmux.
//! See ARCHITECTURE.md for the map.

pub mod agent;
pub mod changes;
pub mod claude_config;
pub mod cli;
pub mod client;
pub mod config;
pub mod convlog;
pub mod credits;
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod drivers;
pub mod gitmon;
pub mod hooks;
pub mod ipc;
pub mod names;
pub mod orchestrator;
pub mod pane_text;
pub mod paths;
pub mod private;
pub mod proto;
pub mod queue;
pub mod refused_turn;
pub mod restart;
pub mod routing;
pub mod scheduler;
pub mod screen;
pub mod service;
pub mod shown;
pub mod sim;
pub mod state;
pub mod statusline;
pub mod team;
pub mod tmux;
/// Until the hub imports it from `tmux` (the hub split lands first).
pub use tmux::session;
pub mod top;
