//! Offline scanning of manifests.

pub mod cli;
