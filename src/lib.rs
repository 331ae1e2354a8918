//! orc: a supervisor that keeps a team of AI coding agents working in tmux.
//! See ARCHITECTURE.md for the map.

pub mod agent;
pub mod changes;
pub mod claude_config;
pub mod cli;
pub mod config;
pub mod convlog;
pub mod credits;
pub mod daemon;
pub mod demo;
pub mod gitmon;
pub mod hooks;
pub mod ipc;
pub mod orchestrator;
pub mod paths;
pub mod proto;
pub mod queue;
pub mod routing;
pub mod scheduler;
pub mod screen;
pub mod service;
pub mod session;
pub mod sim;
pub mod state;
pub mod statusline;
pub mod team;
pub mod tmux;
pub mod top;
