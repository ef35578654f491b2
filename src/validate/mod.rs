//! Validation: simulated figures next to measured ones, with relative errors, so a cost
//! model's fit can be judged on the conditions it was measured under.
//!
//! **Invariant:** nothing here panics on bad input, and the same inputs and seed give the
//! same rows in the same order.

pub mod istio;
pub mod shape;
