//! peapod-image
