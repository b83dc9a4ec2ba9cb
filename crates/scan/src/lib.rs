//! Console scanner (being written).
