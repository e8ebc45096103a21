//! peapod-server
