//! peapod-runtime
