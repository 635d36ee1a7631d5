//! Luau host for weavekit (work in progress).
