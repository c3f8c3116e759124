//! Sequence logos as PNG: at each position of a position weight matrix, the
//! letters stacked by their share of the position's information content (in
//! bits), the likeliest on top (Schneider & Stephens 1990). DNA and RNA letters
//! are drawn as shapes of their own (no font can be stretched to a letter's
//! height); other letters as coloured blocks labelled with the letter.

use std::path::Path;

use plotters::prelude::*;

use super::ExportError;
use super::plots::render_sized;

/// A shape in a unit box (x from the left, y from the bottom), as convex pieces.
type Glyph = Vec<Vec<(f64, f64)>>;

/// Pieces of an elliptic ring around (0.5, `cy`) from angle `from` to `to` (degrees).
fn ring(cy: f64, outer: (f64, f64), inner: (f64, f64), from: f64, to: f64) -> Glyph {
    let steps = 24;
    let at = |r: (f64, f64), a: f64| {
        let t = a.to_radians();
        (0.5 + r.0 * t.cos(), cy + r.1 * t.sin())
    };
    (0..steps)
        .map(|i| {
            let a = from + (to - from) * i as f64 / steps as f64;
            let b = from + (to - from) * (i + 1) as f64 / steps as f64;
            vec![at(outer, a), at(outer, b), at(inner, b), at(inner, a)]
        })
        .collect()
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<(f64, f64)> {
    vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
}

/// The shape of a nucleotide letter, if it has one.
fn glyph(letter: &str) -> Option<Glyph> {
    Some(match letter {
        "A" => vec![
            vec![(0.0, 0.0), (0.2, 0.0), (0.6, 1.0), (0.4, 1.0)],
            vec![(0.8, 0.0), (1.0, 0.0), (0.6, 1.0), (0.4, 1.0)],
            rect(0.25, 0.28, 0.75, 0.44),
        ],
        "C" => ring(0.5, (0.5, 0.5), (0.31, 0.3), 45.0, 315.0),
        "G" => {
            let mut g = ring(0.5, (0.5, 0.5), (0.31, 0.3), 45.0, 360.0);
            g.push(rect(0.55, 0.38, 1.0, 0.54));
            g
        }
        "T" => vec![rect(0.0, 0.82, 1.0, 1.0), rect(0.4, 0.0, 0.6, 0.82)],
        "U" => {
            let mut g = ring(0.32, (0.5, 0.32), (0.31, 0.16), 180.0, 360.0);
            g.push(rect(0.0, 0.32, 0.19, 1.0));
            g.push(rect(0.81, 0.32, 1.0, 1.0));
            g
        }
        _ => return None,
    })
}

fn colour(letter: &str) -> RGBColor {
    match letter {
        "A" => RGBColor(0, 150, 0),
        "C" => RGBColor(0, 0, 200),
        "G" => RGBColor(255, 170, 0),
        "T" | "U" => RGBColor(210, 0, 0),
        // Other amino acids by chemistry, near WebLogo's colours: acidic red,
        // basic blue, polar green, hydrophobic black.
        "D" | "E" => RGBColor(210, 0, 0),
        "K" | "R" | "H" => RGBColor(0, 0, 200),
        "S" | "N" | "Q" | "Y" => RGBColor(0, 150, 0),
        _ => RGBColor(30, 30, 30),
    }
}

/// The bits each letter gets at one position: its share times the position's
/// information content, `log2(letters) − entropy`.
pub fn heights(row: &[f32]) -> Vec<f64> {
    let n = row.len().max(2) as f64;
    let entropy: f64 = row
        .iter()
        .filter(|p| **p > 0.0)
        .map(|&p| -(p as f64) * (p as f64).log2())
        .sum();
    let info = (n.log2() - entropy).max(0.0);
    row.iter().map(|&p| p as f64 * info).collect()
}

/// Draw the logo of `pwm` (`width × letters` shares) over `letters` to `path`.
pub fn logo_png(
    path: &Path,
    pwm: &[Vec<f32>],
    letters: &[String],
    title: &str,
) -> Result<(), ExportError> {
    let width = pwm.len().max(1);
    let top = (letters.len().max(2) as f64).log2();
    let size = ((80 + 50 * width) as u32, 300u32);
    render_sized(path, size, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d(0.5..width as f64 + 0.5, 0.0..top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(width.min(30))
            .x_label_formatter(&|x| format!("{}", x.round() as usize))
            .y_desc("bits")
            .draw()
            .map_err(|e| e.to_string())?;
        for (pos, row) in pwm.iter().enumerate() {
            let h = heights(row);
            let mut order: Vec<usize> = (0..row.len()).collect();
            order.sort_by(|&a, &b| h[a].total_cmp(&h[b]));
            let mut y = 0.0;
            for i in order {
                if h[i] < 1e-3 {
                    continue;
                }
                let (x0, w) = (pos as f64 + 0.55, 0.9);
                let letter = letters.get(i).map(String::as_str).unwrap_or("?");
                let c = colour(letter);
                let place = |(gx, gy): (f64, f64)| (x0 + gx * w, y + gy * h[i]);
                match glyph(letter) {
                    Some(pieces) => {
                        for piece in pieces {
                            let pts: Vec<(f64, f64)> = piece.into_iter().map(place).collect();
                            chart
                                .draw_series(std::iter::once(Polygon::new(pts, c.filled())))
                                .map_err(|e| e.to_string())?;
                        }
                    }
                    None => {
                        chart
                            .draw_series(std::iter::once(Rectangle::new(
                                [place((0.0, 0.0)), place((1.0, 1.0))],
                                c.mix(0.8).filled(),
                            )))
                            .map_err(|e| e.to_string())?;
                        if h[i] > 0.15 * top {
                            chart
                                .draw_series(std::iter::once(Text::new(
                                    letter.to_string(),
                                    place((0.3, 0.7)),
                                    ("sans-serif", 16).into_font().color(&WHITE),
                                )))
                                .map_err(|e| e.to_string())?;
                        }
                    }
                }
                y += h[i];
            }
        }
        Ok(())
    })
}

/// A letter's shape as convex pieces in a unit box (x from the left, y from
/// the bottom), for drawing logos elsewhere (the window); none for letters
/// drawn as labelled blocks.
pub fn letter_shape(letter: &str) -> Option<Vec<Vec<(f64, f64)>>> {
    glyph(letter)
}

/// A letter's colour in logos.
pub fn letter_rgb(letter: &str) -> [u8; 3] {
    let RGBColor(r, g, b) = colour(letter);
    [r, g, b]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certain_position_holds_all_the_bits_and_a_uniform_one_none() {
        let h = heights(&[1.0, 0.0, 0.0, 0.0]);
        assert!((h[0] - 2.0).abs() < 1e-9 && h[1] == 0.0);
        assert!(heights(&[0.25; 4]).iter().all(|v| v.abs() < 1e-9));
        let h = heights(&[0.5, 0.5, 0.0, 0.0]);
        assert!((h[0] - 0.5).abs() < 1e-9);
    }

    #[test]
    fn a_logo_is_drawn_with_each_letters_colour() {
        let dir = std::env::temp_dir().join(format!("lamina-logo-{}", std::process::id()));
        let path = dir.join("logo.png");
        let pwm = vec![
            vec![1.0, 0.0, 0.0, 0.0],
            vec![0.0, 0.0, 0.0, 1.0],
            vec![0.25; 4],
        ];
        let letters: Vec<String> = ["A", "C", "G", "T"].map(String::from).to_vec();
        logo_png(&path, &pwm, &letters, "filter 1").unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        let has = |c: RGBColor| img.pixels().any(|p| p.0 == [c.0, c.1, c.2]);
        assert!(has(colour("A")) && has(colour("T")));
        assert!(!has(colour("C")), "the uniform position draws no letter");
        let _ = std::fs::remove_dir_all(dir);
    }
}
