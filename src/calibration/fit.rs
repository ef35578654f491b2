//! Least-squares polynomial fits: `y = c0 + c1·x + c2·x² + …` over (x, y) points, solved
//! through the normal equations with Gaussian elimination and partial pivoting. x is scaled
//! to [-1, 1] internally so that rates in the thousands stay well conditioned.

use super::CalibrationError;

/// A fitted polynomial and how well it fits.
#[derive(Clone, Debug, PartialEq)]
pub struct PolyFit {
    /// Coefficients, lowest order first: `coefficients[k]` multiplies `x^k`.
    pub coefficients: Vec<f64>,
    /// Coefficient of determination over the fitted points (1 for an exact fit).
    pub r2: f64,
    /// How many points were fitted.
    pub points: usize,
}

impl PolyFit {
    /// Degree of the polynomial.
    pub fn degree(&self) -> usize {
        self.coefficients.len().saturating_sub(1)
    }

    /// Value of the polynomial at `x` (Horner).
    pub fn eval(&self, x: f64) -> f64 {
        self.coefficients.iter().rev().fold(0.0, |acc, c| acc * x + c)
    }
}

/// Round a measured rate to the nearest 10 rps, as the publisher does before fitting.
pub fn round_rate_to_10(rate_rps: f64) -> f64 {
    (rate_rps / 10.0).round() * 10.0
}

/// Fit a polynomial of `degree` to `points` by least squares.
///
/// Needs at least `degree + 1` distinct x values and only finite numbers.
pub fn fit_polynomial(points: &[(f64, f64)], degree: usize) -> Result<PolyFit, CalibrationError> {
    if points.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return Err(CalibrationError::Fit("points must be finite numbers".to_string()));
    }
    let mut xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    if xs.len() < degree + 1 {
        return Err(CalibrationError::Fit(format!(
            "a degree-{degree} polynomial needs at least {} distinct x values, got {}",
            degree + 1,
            xs.len()
        )));
    }
    let scale = points.iter().map(|p| p.0.abs()).fold(0.0f64, f64::max).max(f64::MIN_POSITIVE);
    let n = degree + 1;
    // Normal equations A·d = b in the scaled variable t = x / scale.
    let mut a = vec![vec![0.0f64; n]; n];
    let mut b = vec![0.0f64; n];
    for &(x, y) in points {
        let t = x / scale;
        let powers: Vec<f64> = (0..2 * n - 1).map(|k| t.powi(k as i32)).collect();
        for (i, row) in a.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                *cell += powers[i + j];
            }
            b[i] += powers[i] * y;
        }
    }
    let scaled = solve_gaussian(a, b)?;
    let coefficients: Vec<f64> = scaled.iter().enumerate().map(|(k, d)| d / scale.powi(k as i32)).collect();
    let fit = PolyFit { coefficients, r2: 0.0, points: points.len() };
    let r2 = r_squared(points, |x| fit.eval(x));
    Ok(PolyFit { r2, ..fit })
}

fn r_squared(points: &[(f64, f64)], model: impl Fn(f64) -> f64) -> f64 {
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let ss_tot: f64 = points.iter().map(|p| (p.1 - mean_y).powi(2)).sum();
    let ss_res: f64 = points.iter().map(|p| (p.1 - model(p.0)).powi(2)).sum();
    if ss_tot == 0.0 {
        // Constant data: the fit reproduces it (up to rounding).
        return 1.0;
    }
    1.0 - ss_res / ss_tot
}

/// Solve a square system by Gaussian elimination with partial pivoting.
fn solve_gaussian(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Result<Vec<f64>, CalibrationError> {
    let n = b.len();
    let norm = a.iter().flatten().map(|v| v.abs()).fold(0.0f64, f64::max).max(f64::MIN_POSITIVE);
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs())).unwrap_or(col);
        if a[pivot][col].abs() <= norm * 1e-14 {
            return Err(CalibrationError::Fit("singular normal equations (x values too few or too close)".to_string()));
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (upper, lower) = a.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for (offset, row) in lower.iter_mut().enumerate() {
            let factor = row[col] / pivot_row[col];
            if factor == 0.0 {
                continue;
            }
            for (cell, pivot_cell) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *cell -= factor * pivot_cell;
            }
            b[col + 1 + offset] -= factor * b[col];
        }
    }
    let mut x = vec![0.0f64; n];
    for row in (0..n).rev() {
        let tail: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn exact_quadratic_is_recovered() {
        let truth = [12.5, 0.75, 3.0e-4];
        let points: Vec<(f64, f64)> =
            [60.0, 120.0, 240.0, 600.0, 1200.0, 1200.0, 60.0].iter().map(|&x| (x, truth[0] + truth[1] * x + truth[2] * x * x)).collect();
        let fit = fit_polynomial(&points, 2).unwrap();
        assert_eq!(fit.degree(), 2);
        for (got, want) in fit.coefficients.iter().zip(truth) {
            assert_relative_eq!(*got, want, max_relative = 1e-9);
        }
        assert_relative_eq!(fit.r2, 1.0, max_relative = 1e-12);
        assert_eq!(fit.points, 7);
    }

    #[test]
    fn exact_cubic_and_line_are_recovered() {
        let cubic = [-3.0, 2.0, -0.5, 0.01];
        let points: Vec<(f64, f64)> = (0..9)
            .map(|i| {
                let x = i as f64 * 7.0 - 20.0;
                (x, cubic.iter().rev().fold(0.0, |acc, c| acc * x + c))
            })
            .collect();
        let fit = fit_polynomial(&points, 3).unwrap();
        for (got, want) in fit.coefficients.iter().zip(cubic) {
            assert_relative_eq!(*got, want, max_relative = 1e-9);
        }
        let line = fit_polynomial(&[(10.0, 25.0), (1000.0, 520.0)], 1).unwrap();
        assert_relative_eq!(line.coefficients[0], 20.0, max_relative = 1e-9);
        assert_relative_eq!(line.coefficients[1], 0.5, max_relative = 1e-9);
        assert_relative_eq!(line.r2, 1.0, max_relative = 1e-12);
    }

    #[test]
    fn noisy_line_has_r2_below_one() {
        let fit = fit_polynomial(&[(0.0, 0.0), (1.0, 2.0), (2.0, 1.0), (3.0, 3.0)], 1).unwrap();
        // slope 0.8, intercept 0.3; ss_res = 1.8, ss_tot = 5: r² = 0.64
        assert_relative_eq!(fit.coefficients[1], 0.8, max_relative = 1e-12);
        assert_relative_eq!(fit.coefficients[0], 0.3, max_relative = 1e-12);
        assert_relative_eq!(fit.r2, 0.64, max_relative = 1e-12);
    }

    #[test]
    fn too_few_distinct_x_is_an_error() {
        assert!(fit_polynomial(&[(1.0, 1.0), (1.0, 2.0), (2.0, 3.0)], 2).is_err());
        assert!(fit_polynomial(&[], 0).is_err());
        assert!(fit_polynomial(&[(f64::NAN, 1.0), (2.0, 1.0)], 1).is_err());
    }

    #[test]
    fn rates_round_to_the_nearest_ten() {
        assert_eq!(round_rate_to_10(59.97), 60.0);
        assert_eq!(round_rate_to_10(1196.2), 1200.0);
        assert_eq!(round_rate_to_10(244.9), 240.0);
    }
}
