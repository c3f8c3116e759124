//! Image folders: one subfolder per class holding PNG, JPEG or TIFF files. Every
//! image is converted to grayscale or RGB (stated in the dataset's notes) and
//! resized to the chosen size. Values stay in the file's range (0–255, or 0–65535
//! for 16-bit images); pixel scaling happens in `encode`.

use std::path::{Path, PathBuf};

use image::{DynamicImage, imageops::FilterType};

use super::{DataError, DataKind, Dataset, Labels};
use crate::spec::{ColorMode, ImageOptions};

const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(DataError::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    entries.sort();
    Ok(entries)
}

fn decode(path: &Path) -> Result<DynamicImage, DataError> {
    image::ImageReader::open(path)
        .map_err(DataError::io(path))?
        .with_guessed_format()
        .map_err(DataError::io(path))?
        .decode()
        .map_err(|e| DataError::Image {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// Read a folder of class folders.
pub fn read(root: &Path, opts: &ImageOptions) -> Result<Dataset, DataError> {
    if !root.is_dir() {
        return Err(DataError::NotFound {
            path: root.to_path_buf(),
        });
    }
    if opts.width == 0 || opts.height == 0 {
        return Err(DataError::Invalid(
            "image width and height must be at least 1 pixel".into(),
        ));
    }
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut loose = 0;
    for entry in sorted_entries(root)? {
        if entry.is_dir() {
            let class = entry
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            for f in sorted_entries(&entry)? {
                if f.is_file() && is_image(&f) {
                    files.push((f, class.clone()));
                }
            }
        } else if is_image(&entry) {
            loose += 1;
        }
    }
    if files.is_empty() {
        return Err(DataError::NoImages {
            path: root.to_path_buf(),
        });
    }

    // Decode on every core; the first broken file (in folder order) is reported.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, files.len());
    let per_thread = files.len().div_ceil(threads);
    let parts: Vec<Result<Vec<DynamicImage>, DataError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(path, _)| decode(path))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(DataError::Invalid(format!(
                        "an image in {} made the image decoder fail; check for damaged files",
                        root.display()
                    )))
                })
            })
            .collect()
    });
    let mut images = Vec::with_capacity(files.len());
    for part in parts {
        images.extend(part?);
    }

    let all_gray = images.iter().all(|i| !i.color().has_color());
    let deep = images
        .iter()
        .any(|i| i.color().bytes_per_pixel() / i.color().channel_count() > 1);
    let rgb = match opts.color {
        ColorMode::Auto => !all_gray,
        ColorMode::Grayscale => false,
        ColorMode::Rgb => true,
    };
    let channels = if rgb { 3 } else { 1 };
    let (w, h) = (opts.width, opts.height);
    let plane = (w * h) as usize;
    let mut values = vec![0.0f32; images.len() * channels * plane];
    let mut resized = 0;
    for (i, img) in images.iter().enumerate() {
        if img.width() != w || img.height() != h {
            resized += 1;
        }
        let scaled;
        let img = if img.width() != w || img.height() != h {
            scaled = img.resize_exact(w, h, FilterType::Triangle);
            &scaled
        } else {
            img
        };
        let sample = &mut values[i * channels * plane..(i + 1) * channels * plane];
        fill(sample, img, rgb, deep, plane);
    }

    let mut notes = Vec::new();
    notes.push(format!(
        "images are read as {} ({})",
        if rgb { "RGB" } else { "grayscale" },
        if deep {
            "16-bit values"
        } else {
            "8-bit values"
        }
    ));
    if resized > 0 {
        notes.push(format!("{resized} images were resized to {w} × {h} pixels"));
    }
    if loose > 0 {
        notes.push(format!(
            "{loose} images directly in {} were skipped: images must sit in a subfolder named after their class",
            root.display()
        ));
    }
    let ids = files
        .iter()
        .map(|(p, _)| {
            p.strip_prefix(root)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        })
        .collect::<Vec<_>>();
    let raw: Vec<String> = files.iter().map(|(_, c)| c.clone()).collect();
    let labels = Labels::from_strings(&raw, false, root, &ids)?;
    Ok(Dataset {
        kind: DataKind::Images,
        source: root.to_path_buf(),
        ids,
        shape: vec![channels, h as usize, w as usize],
        values,
        feature_names: if rgb {
            vec!["red".into(), "green".into(), "blue".into()]
        } else {
            vec!["gray".into()]
        },
        labels,
        max_value: if deep { 65535.0 } else { 255.0 },
        notes,
        text_columns: Vec::new(),
        lengths: None,
    })
}

/// Write one image into a channel-first sample.
fn fill(sample: &mut [f32], img: &DynamicImage, rgb: bool, deep: bool, plane: usize) {
    match (rgb, deep) {
        (false, false) => {
            for (i, p) in img.to_luma8().pixels().enumerate() {
                sample[i] = p.0[0] as f32;
            }
        }
        (false, true) => {
            for (i, p) in img.to_luma16().pixels().enumerate() {
                sample[i] = p.0[0] as f32;
            }
        }
        (true, false) => {
            for (i, p) in img.to_rgb8().pixels().enumerate() {
                for c in 0..3 {
                    sample[c * plane + i] = p.0[c] as f32;
                }
            }
        }
        (true, true) => {
            for (i, p) in img.to_rgb16().pixels().enumerate() {
                for c in 0..3 {
                    sample[c * plane + i] = p.0[c] as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_folders_resize_and_broken_files() {
        let dir = std::env::temp_dir().join(format!("lamina-img-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (class, shade) in [("a", 10u8), ("b", 200u8)] {
            std::fs::create_dir_all(dir.join(class)).unwrap();
            for k in 0..2 {
                let img = image::GrayImage::from_pixel(8, 6, image::Luma([shade]));
                img.save(dir.join(class).join(format!("{k}.png"))).unwrap();
            }
        }
        let opts = ImageOptions {
            width: 4,
            height: 4,
            color: ColorMode::Auto,
        };
        let ds = read(&dir, &opts).unwrap();
        assert_eq!(ds.shape, [1, 4, 4]);
        assert_eq!(ds.len(), 4);
        assert_eq!(ds.labels.class_names(), ["a", "b"]);
        assert!((ds.sample(3)[0] - 200.0).abs() < 1.0);
        assert_eq!(ds.max_value, 255.0);

        std::fs::write(dir.join("b").join("broken.png"), b"not a png").unwrap();
        let msg = read(&dir, &opts).unwrap_err().to_string();
        assert!(msg.contains("broken.png"), "{msg}");

        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let msg = read(&empty, &opts).unwrap_err().to_string();
        assert!(msg.contains("holds no images"), "{msg}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
