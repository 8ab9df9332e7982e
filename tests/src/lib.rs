
//! Test fixtures shared by the end-to-end tests.

pub mod service;
