//! peapod-net
