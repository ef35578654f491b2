//! Random durations drawn from a [`ServiceTime`] distribution with the run's one RNG.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, StandardNormal};

use crate::topology::ServiceTime;

#[derive(Clone, Copy, Debug)]
pub enum Sampler {
    Constant(f64),
    Exp(Exp<f64>),
    LogNormal(LogNormal<f64>),
}

impl Sampler {
    pub fn new(st: ServiceTime) -> Sampler {
        match st {
            ServiceTime::Constant { mean_ns } => Sampler::Constant(mean_ns as f64),
            ServiceTime::Exponential { mean_ns } if mean_ns > 0 => Sampler::Exp(Exp::new(1.0 / mean_ns as f64).expect("positive rate")),
            ServiceTime::Exponential { .. } => Sampler::Constant(0.0),
            ServiceTime::LogNormal { mean_ns, cv } if mean_ns > 0 && cv > 0.0 && cv.is_finite() => {
                let sigma2 = (1.0 + cv * cv).ln();
                let mu = (mean_ns as f64).ln() - sigma2 / 2.0;
                match LogNormal::new(mu, sigma2.sqrt()) {
                    Ok(d) => Sampler::LogNormal(d),
                    Err(_) => Sampler::Constant(mean_ns as f64),
                }
            }
            ServiceTime::LogNormal { mean_ns, .. } => Sampler::Constant(mean_ns as f64),
        }
    }

    /// A draw in ns (finite and not negative).
    #[inline]
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        let x = match self {
            Sampler::Constant(x) => *x,
            Sampler::Exp(d) => d.sample(rng),
            Sampler::LogNormal(d) => d.sample(rng),
        };
        if x.is_finite() {
            x.max(0.0)
        } else {
            0.0
        }
    }

    /// Whether every draw is zero (nothing to wait for).
    pub fn is_zero(&self) -> bool {
        matches!(self, Sampler::Constant(x) if *x <= 0.0)
    }
}

/// A uniform draw in [0, 1).
#[inline]
pub fn unit(rng: &mut ChaCha8Rng) -> f64 {
    rng.gen::<f64>()
}

/// A standard normal draw (the normal score of a fitted pass latency).
#[inline]
pub fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Nanoseconds from a float: rounded, never negative, saturating at the end of time.
#[inline]
pub fn ns(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= u64::MAX as f64 {
        u64::MAX
    } else {
        x.round() as u64
    }
}
