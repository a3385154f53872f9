//! The encrypted store (todo).
