//! The composition root: opens the database, builds every component, wires them together,
//! supervises long-lived tasks and shuts down in order. Also the CLI commands' bodies
//! ([`cli`]). Nothing imports `director`.

pub mod allocator;
pub mod cli;
pub mod encoders;
pub mod graphics;
pub mod links;
pub mod serve;
pub mod system;
