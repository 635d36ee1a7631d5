//! weavekit (work in progress).
