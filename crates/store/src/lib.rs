//! peapod-store
