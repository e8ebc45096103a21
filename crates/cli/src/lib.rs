//! peapod-cli
