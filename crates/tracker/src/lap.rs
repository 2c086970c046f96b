//! Linear assignment: the minimum-cost matching of rows to columns (Hungarian algorithm with
//! potentials, O(n² m)), the hot spot of association.

/// For each row, the column assigned to it (each column used at most once), minimising the
/// total cost. `cost` is row-major `rows × cols`; every row gets a column when `rows <= cols`,
/// and every column a row otherwise.
pub fn assign(cost: &[f64], rows: usize, cols: usize) -> Vec<Option<usize>> {
    assert_eq!(cost.len(), rows * cols, "cost matrix size");
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    if rows > cols {
        // Solve the transpose and invert the answer.
        let t: Vec<f64> = (0..cols * rows)
            .map(|k| cost[(k % rows) * cols + k / rows])
            .collect();
        let by_col = assign(&t, cols, rows);
        let mut out = vec![None; rows];
        for (c, r) in by_col.into_iter().enumerate() {
            if let Some(r) = r {
                out[r] = Some(c);
            }
        }
        return out;
    }
    let (n, m) = (rows, cols);
    let a = |i: usize, j: usize| cost[(i - 1) * m + (j - 1)];
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=m {
                if !used[j] {
                    let cur = a(i0, j) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![None; n];
    for j in 1..=m {
        if p[j] != 0 {
            out[p[j] - 1] = Some(j - 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn total(cost: &[f64], cols: usize, a: &[Option<usize>]) -> f64 {
        a.iter()
            .enumerate()
            .filter_map(|(r, c)| c.map(|c| cost[r * cols + c]))
            .sum()
    }

    /// Every assignment of min(rows, cols) pairs, the cheapest.
    fn brute(cost: &[f64], rows: usize, cols: usize) -> f64 {
        fn go(
            r: usize,
            rows: usize,
            cols: usize,
            cost: &[f64],
            used: &mut Vec<bool>,
            left: usize,
        ) -> f64 {
            if left == 0 {
                return 0.0;
            }
            if r == rows {
                return f64::INFINITY;
            }
            // Row r unassigned (only possible when rows > cols) …
            let mut best = if rows - r > left {
                go(r + 1, rows, cols, cost, used, left)
            } else {
                f64::INFINITY
            };
            // … or assigned to a free column.
            for c in 0..cols {
                if !used[c] {
                    used[c] = true;
                    best =
                        best.min(cost[r * cols + c] + go(r + 1, rows, cols, cost, used, left - 1));
                    used[c] = false;
                }
            }
            best
        }
        go(0, rows, cols, cost, &mut vec![false; cols], rows.min(cols))
    }

    proptest! {
        #[test]
        fn matches_brute_force(rows in 0usize..6, cols in 0usize..6, seed in any::<u64>()) {
            let mut s = seed;
            let cost: Vec<f64> = (0..rows * cols).map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 33) % 1000) as f64 / 100.0
            }).collect();
            let a = assign(&cost, rows, cols);
            prop_assert_eq!(a.len(), rows);
            let assigned: Vec<usize> = a.iter().flatten().copied().collect();
            let mut dedup = assigned.clone();
            dedup.sort_unstable();
            dedup.dedup();
            prop_assert_eq!(dedup.len(), assigned.len(), "a column used twice");
            prop_assert_eq!(assigned.len(), rows.min(cols));
            let want = brute(&cost, rows, cols);
            let got = total(&cost, cols, &a);
            prop_assert!((got - want).abs() < 1e-9, "got {} want {}", got, want);
        }
    }

    #[test]
    fn a_known_case() {
        let cost = [4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0];
        assert_eq!(assign(&cost, 3, 3), vec![Some(1), Some(0), Some(2)]);
    }
}
