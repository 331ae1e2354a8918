//! orc: a supervisor that keeps a team of AI coding agents working in tmux.
//! See ARCHITECTURE.md for the map.

mod agent;
mod changes;
mod claude_config;
pub mod cli;
mod client;
mod config;
mod convlog;
mod credits;
mod daemon;
mod demo;
mod doctor;
pub mod drivers;
mod gitmon;
mod hooks;
pub mod ipc;
mod names;
mod orchestrator;
mod pane_text;
pub mod paths;
mod private;
pub mod procs;
pub mod proto;
mod queue;
mod refused_turn;
mod restart;
mod routing;
mod scheduler;
pub mod screen;
mod service;
pub mod shown;
pub mod sim;
mod state;
mod statusline;
mod team;
pub mod tmux;
mod top;
