//! The constant-velocity Kalman filter SORT runs on each box: state `[cx, cy, s, r, vx, vy, vs]`
//! (centre, area, aspect ratio and their rates), measurement `[cx, cy, s, r]`.

use crate::BBox;

pub(crate) const N: usize = 7;
const M: usize = 4;

type Mat<const R: usize, const C: usize> = [[f64; C]; R];

fn mul<const R: usize, const K: usize, const C: usize>(a: &Mat<R, K>, b: &Mat<K, C>) -> Mat<R, C> {
    let mut out = [[0.0; C]; R];
    for i in 0..R {
        for k in 0..K {
            let x = a[i][k];
            if x != 0.0 {
                for j in 0..C {
                    out[i][j] += x * b[k][j];
                }
            }
        }
    }
    out
}

fn transpose<const R: usize, const C: usize>(a: &Mat<R, C>) -> Mat<C, R> {
    let mut out = [[0.0; R]; C];
    for i in 0..R {
        for j in 0..C {
            out[j][i] = a[i][j];
        }
    }
    out
}

/// Inverse of a small symmetric positive-definite matrix by Gauss-Jordan; `None` if singular.
fn invert(a: &Mat<M, M>) -> Option<Mat<M, M>> {
    let mut m = *a;
    let mut inv = [[0.0; M]; M];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..M {
        let pivot = (col..M).max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, pivot);
        inv.swap(col, pivot);
        let d = m[col][col];
        for j in 0..M {
            m[col][j] /= d;
            inv[col][j] /= d;
        }
        for r in 0..M {
            if r != col {
                let f = m[r][col];
                for j in 0..M {
                    m[r][j] -= f * m[col][j];
                    inv[r][j] -= f * inv[col][j];
                }
            }
        }
    }
    Some(inv)
}

fn to_z(b: &BBox) -> [f64; M] {
    let (cx, cy) = b.center();
    let (w, h) = (f64::from(b.width()), f64::from(b.height()));
    let s = w * h;
    let r = if h > 0.0 { w / h } else { 0.0 };
    [f64::from(cx), f64::from(cy), s, r]
}

/// The box a state describes.
fn to_box(x: &[f64; N]) -> BBox {
    let s = x[2].max(0.0);
    let r = x[3].max(0.0);
    let w = (s * r).sqrt();
    let h = if w > 0.0 { s / w } else { 0.0 };
    BBox::new(
        (x[0] - w / 2.0) as f32,
        (x[1] - h / 2.0) as f32,
        (x[0] + w / 2.0) as f32,
        (x[1] + h / 2.0) as f32,
    )
}

/// One box's filter.
#[derive(Debug, Clone)]
pub struct KalmanBox {
    x: [f64; N],
    p: Mat<N, N>,
}

/// The state transition over `dt` frames: position (and area) move by `dt` times their rate.
fn transition(dt: f64) -> Mat<N, N> {
    let mut f = [[0.0; N]; N];
    for (i, row) in f.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    f[0][4] = dt;
    f[1][5] = dt;
    f[2][6] = dt;
    f
}

const H: Mat<M, N> = {
    let mut h = [[0.0; N]; M];
    let mut i = 0;
    while i < M {
        h[i][i] = 1.0;
        i += 1;
    }
    h
};

impl KalmanBox {
    /// A filter starting at `b`, at rest, with the uncertainties of the SORT paper's code.
    pub fn new(b: &BBox) -> Self {
        let z = to_z(b);
        let mut x = [0.0; N];
        x[..M].copy_from_slice(&z);
        let mut p = [[0.0; N]; N];
        for (i, v) in [10.0, 10.0, 10.0, 10.0, 1e4, 1e4, 1e4]
            .into_iter()
            .enumerate()
        {
            p[i][i] = v;
        }
        Self { x, p }
    }

    /// The state and its covariance, for a snapshot.
    pub(crate) fn state(&self) -> (&[f64; N], &Mat<N, N>) {
        (&self.x, &self.p)
    }

    /// A filter with this state and covariance (a snapshot's).
    pub(crate) fn from_state(x: [f64; N], p: Mat<N, N>) -> Self {
        Self { x, p }
    }

    /// Advances one frame; returns the predicted box.
    pub fn predict(&mut self) -> BBox {
        self.predict_by(1)
    }

    /// Advances `frames` frames in one step (the detector skipped the ones between): the
    /// constant-velocity step scaled by the gap, process noise `frames` times one frame's.
    /// `predict_by(1)` is [`predict`](Self::predict); `predict_by(0)` changes nothing.
    pub fn predict_by(&mut self, frames: u32) -> BBox {
        if frames == 0 {
            return self.bbox();
        }
        let dt = f64::from(frames);
        // An area about to go negative stops shrinking.
        if self.x[2] + self.x[6] * dt <= 0.0 {
            self.x[6] = 0.0;
        }
        let f = transition(dt);
        let mut x = [0.0; N];
        for (i, xi) in x.iter_mut().enumerate() {
            *xi = (0..N).map(|k| f[i][k] * self.x[k]).sum();
        }
        self.x = x;
        let mut p = mul(&mul(&f, &self.p), &transpose(&f));
        for (i, q) in [1.0, 1.0, 1.0, 1.0, 0.01, 0.01, 1e-4]
            .into_iter()
            .enumerate()
        {
            p[i][i] += q * dt;
        }
        self.p = p;
        self.bbox()
    }

    /// Corrects the state with a measured box.
    pub fn update(&mut self, b: &BBox) {
        let z = to_z(b);
        let ht = transpose(&H);
        let mut s = mul(&mul(&H, &self.p), &ht);
        for (i, r) in [1.0, 1.0, 10.0, 10.0].into_iter().enumerate() {
            s[i][i] += r;
        }
        let Some(s_inv) = invert(&s) else { return };
        let k = mul(&mul(&self.p, &ht), &s_inv); // N x M
        let y: [f64; M] = std::array::from_fn(|i| z[i] - self.x[i]);
        for (xi, ki) in self.x.iter_mut().zip(&k) {
            *xi += ki.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>();
        }
        let kh = mul(&k, &H);
        let mut ikh = [[0.0; N]; N];
        for i in 0..N {
            for j in 0..N {
                ikh[i][j] = f64::from(u8::from(i == j)) - kh[i][j];
            }
        }
        self.p = mul(&ikh, &self.p);
    }

    /// Stops the area changing until the next [`update`](Self::update) (its rate to 0). The
    /// area rate, learnt from a few noisy boxes, can shrink or swell a box fast; a tracker
    /// that calls this before each prediction moves boxes without resizing them, and their
    /// size follows the detections.
    pub fn hold_size(&mut self) {
        self.x[6] = 0.0;
    }

    /// Multiplies the centre velocity by `factor` (a track unseen for a while slows down).
    pub fn decay_velocity(&mut self, factor: f64) {
        self.x[4] *= factor;
        self.x[5] *= factor;
    }

    /// The current box.
    pub fn bbox(&self) -> BBox {
        to_box(&self.x)
    }

    /// Centre velocity in pixels per frame.
    pub fn velocity(&self) -> (f32, f32) {
        (self.x[4] as f32, self.x[5] as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_constant_velocity() {
        let mut k = KalmanBox::new(&BBox::from_xywh(0.0, 0.0, 20.0, 40.0));
        for t in 1..40 {
            k.predict();
            k.update(&BBox::from_xywh(3.0 * t as f32, 1.0 * t as f32, 20.0, 40.0));
        }
        let (vx, vy) = k.velocity();
        assert!(
            (vx - 3.0).abs() < 0.05 && (vy - 1.0).abs() < 0.05,
            "velocity {vx}, {vy}"
        );
        let p = k.predict();
        assert!(
            (p.x1 - 120.0).abs() < 0.5 && (p.y1 - 40.0).abs() < 0.5,
            "{p:?}"
        );
        assert!(
            (p.width() - 20.0).abs() < 0.5 && (p.height() - 40.0).abs() < 0.5,
            "{p:?}"
        );
    }

    #[test]
    fn a_box_at_rest_stays_put_and_uncertainty_grows_without_updates() {
        let b = BBox::from_xywh(100.0, 50.0, 30.0, 30.0);
        let mut k = KalmanBox::new(&b);
        k.update(&b);
        let p0 = k.p[0][0];
        k.predict();
        k.predict();
        assert!(k.p[0][0] > p0);
        let got = k.bbox();
        assert!(
            (got.x1 - 100.0).abs() < 1e-3 && (got.x2 - 130.0).abs() < 1e-3,
            "{got:?}"
        );
    }

    #[test]
    fn one_step_over_a_gap_lands_where_the_single_steps_do() {
        let mut a = KalmanBox::new(&BBox::from_xywh(0.0, 0.0, 20.0, 40.0));
        for t in 1..20 {
            a.predict();
            a.update(&BBox::from_xywh(4.0 * t as f32, 2.0 * t as f32, 20.0, 40.0));
        }
        let mut b = a.clone();
        for _ in 0..5 {
            a.predict();
        }
        let (pa, pb) = (a.bbox(), b.predict_by(5));
        assert!(
            (pa.x1 - pb.x1).abs() < 1e-3 && (pa.y1 - pb.y1).abs() < 1e-3,
            "{pa:?} vs {pb:?}"
        );
        assert!((pb.x1 - 96.0).abs() < 1.0, "{pb:?}");
        // More uncertain after a gap than after one frame.
        let mut c = b.clone();
        c.predict_by(1);
        b.predict_by(5);
        assert!(b.p[0][0] > c.p[0][0]);
    }

    #[test]
    fn inverse_of_a_known_matrix() {
        let a = [
            [4.0, 1.0, 0.0, 0.0],
            [1.0, 3.0, 0.0, 0.0],
            [0.0, 0.0, 2.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let i = invert(&a).unwrap();
        let id = mul(&a, &i);
        for (r, row) in id.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                assert!((v - f64::from(u8::from(r == c))).abs() < 1e-12);
            }
        }
        assert!(invert(&[[0.0; 4]; 4]).is_none());
    }
}
