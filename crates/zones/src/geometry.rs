//! Plane geometry in image coordinates (x right, y down): sides, crossings, polygons.

/// Which side of the directed line `a` → `b` the point `p` is on: the cross product of
/// `b − a` and `p − a`, positive on the side `b − a` turned a quarter turn clockwise on
/// screen points to; its magnitude over |b − a| is the distance to the line.
pub fn side_of(a: (f32, f32), b: (f32, f32), p: (f32, f32)) -> f32 {
    (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0)
}

/// Whether the segments `p1`–`p2` and `q1`–`q2` cross (touching counts).
pub fn segments_cross(p1: (f32, f32), p2: (f32, f32), q1: (f32, f32), q2: (f32, f32)) -> bool {
    let d1 = side_of(q1, q2, p1);
    let d2 = side_of(q1, q2, p2);
    let d3 = side_of(p1, p2, q1);
    let d4 = side_of(p1, p2, q2);
    (d1 * d2 <= 0.0) && (d3 * d4 <= 0.0) && !(d1 == 0.0 && d2 == 0.0 && d3 == 0.0 && d4 == 0.0)
}

/// Whether `p` is inside the polygon (even-odd rule; points on an edge may go either way).
pub fn point_in_polygon(polygon: &[(f32, f32)], p: (f32, f32)) -> bool {
    let mut inside = false;
    let n = polygon.len();
    for i in 0..n {
        let (a, b) = (polygon[i], polygon[(i + n - 1) % n]);
        if (a.1 > p.1) != (b.1 > p.1) {
            let x = a.0 + (p.1 - a.1) * (b.0 - a.0) / (b.1 - a.1);
            if p.0 < x {
                inside = !inside;
            }
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_crossings_and_polygons() {
        // A line drawn left to right: below it (y larger) is the positive side.
        assert!(side_of((0.0, 0.0), (10.0, 0.0), (5.0, 3.0)) > 0.0);
        assert!(side_of((0.0, 0.0), (10.0, 0.0), (5.0, -3.0)) < 0.0);
        assert!(segments_cross(
            (5.0, -1.0),
            (5.0, 1.0),
            (0.0, 0.0),
            (10.0, 0.0)
        ));
        assert!(!segments_cross(
            (15.0, -1.0),
            (15.0, 1.0),
            (0.0, 0.0),
            (10.0, 0.0)
        ));
        let square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)];
        assert!(point_in_polygon(&square, (5.0, 5.0)));
        assert!(!point_in_polygon(&square, (15.0, 5.0)));
        let l_shape = [
            (0.0, 0.0),
            (10.0, 0.0),
            (10.0, 4.0),
            (4.0, 4.0),
            (4.0, 10.0),
            (0.0, 10.0),
        ];
        assert!(point_in_polygon(&l_shape, (2.0, 8.0)));
        assert!(!point_in_polygon(&l_shape, (8.0, 8.0)));
    }
}
