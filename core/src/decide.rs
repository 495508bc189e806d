//! SPEC §3 as one function over a plain request view.
