//! (in progress, kspure)
