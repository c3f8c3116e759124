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

fn is_tiff(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "tif" | "tiff"))
}

/// One image file as one or more planes: a single image, or with
/// `tiff_pages_as_channels` every page of a TIFF (each one grayscale channel).
fn decode(path: &Path, opts: &ImageOptions) -> Result<Vec<DynamicImage>, DataError> {
    if is_tiff(path) {
        return decode_tiff(path, opts);
    }
    let img = image::ImageReader::open(path)
        .map_err(DataError::io(path))?
        .with_guessed_format()
        .map_err(DataError::io(path))?
        .decode()
        .map_err(|e| DataError::Image {
            path: path.to_path_buf(),
            message: match (&e, image::image_dimensions(path)) {
                (image::ImageError::Limits(_), Ok((w, h))) => too_large(w, h),
                _ => e.to_string(),
            },
        })?;
    Ok(vec![img])
}

/// Why an image whose header claims `w × h` pixels is not decoded.
fn too_large(w: u32, h: u32) -> String {
    format!(
        "its header says it is {w} × {h} pixels ({:.0} megapixels), more than Lamina decodes at once (512 MB per image); if it is that large, cut it into tiles first (e.g. in Fiji), else the file is damaged",
        f64::from(w) * f64::from(h) / 1e6
    )
}

/// TIFF through the `tiff` decoder itself: the chosen page, or every page as a
/// channel; 8- and 16-bit unsigned samples (gray, gray+alpha, RGB, RGBA).
fn decode_tiff(path: &Path, opts: &ImageOptions) -> Result<Vec<DynamicImage>, DataError> {
    use tiff::decoder::Decoder;
    let fail = |message: String| DataError::Image {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(DataError::io(path))?;
    let mut dec = Decoder::new(std::io::BufReader::new(file)).map_err(|e| fail(e.to_string()))?;
    let mut pages = 1;
    while dec.more_images() {
        dec.next_image()
            .map_err(|e| fail(format!("page {}: {e}", pages + 1)))?;
        pages += 1;
    }
    let wanted: Vec<usize> = if opts.tiff_pages_as_channels {
        (0..pages).collect()
    } else {
        let page = opts.tiff_page.max(1);
        if page > pages {
            return Err(fail(format!(
                "page {page} was chosen, but the file has {} page{}",
                pages,
                if pages == 1 { "" } else { "s" }
            )));
        }
        vec![page - 1]
    };
    let mut out = Vec::with_capacity(wanted.len());
    for p in wanted {
        dec.seek_to_image(p)
            .map_err(|e| fail(format!("page {}: {e}", p + 1)))?;
        let img = tiff_page(&mut dec).map_err(|m| fail(format!("page {}: {m}", p + 1)))?;
        if opts.tiff_pages_as_channels && img.color().has_color() {
            return Err(fail(format!(
                "page {} is in colour; pages become channels only when each page is grayscale",
                p + 1
            )));
        }
        if let Some(first) = out.first().map(|f: &DynamicImage| (f.width(), f.height()))
            && first != (img.width(), img.height())
        {
            return Err(fail(format!(
                "page {} is {} × {} pixels but page 1 is {} × {}; pages become channels only when they have one size",
                p + 1,
                img.width(),
                img.height(),
                first.0,
                first.1
            )));
        }
        out.push(img);
    }
    Ok(out)
}

const SUPPORTED: &str = "Lamina reads 8- and 16-bit unsigned gray, gray+alpha, RGB and RGBA; \
    convert the file, e.g. in Fiji: Image › Type › 16-bit";

/// The current page of a TIFF decoder as an image, or what is unsupported about it.
fn tiff_page<R: std::io::Read + std::io::Seek>(
    dec: &mut tiff::decoder::Decoder<R>,
) -> Result<DynamicImage, String> {
    use tiff::ColorType as C;
    use tiff::decoder::DecodingResult as D;
    let (w, h) = dec.dimensions().map_err(|e| e.to_string())?;
    let color = dec.colortype().map_err(|e| e.to_string())?;
    let data = dec.read_image().map_err(|e| match e {
        tiff::TiffError::UnsupportedError(u) => format!("{u}. {SUPPORTED}"),
        e => e.to_string(),
    })?;
    let size = || "its pixel data does not match its size".to_string();
    let img = match (color, data) {
        (C::Gray(8), D::U8(v)) => {
            DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, v).ok_or_else(size)?)
        }
        (C::Gray(16), D::U16(v)) => {
            DynamicImage::ImageLuma16(image::ImageBuffer::from_raw(w, h, v).ok_or_else(size)?)
        }
        (C::GrayA(8), D::U8(v)) => {
            DynamicImage::ImageLumaA8(image::ImageBuffer::from_raw(w, h, v).ok_or_else(size)?)
        }
        (C::GrayA(16), D::U16(v)) => {
            DynamicImage::ImageLumaA16(image::ImageBuffer::from_raw(w, h, v).ok_or_else(size)?)
        }
        (C::RGB(8), D::U8(v)) => {
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, v).ok_or_else(size)?)
        }
        (C::RGB(16), D::U16(v)) => {
            DynamicImage::ImageRgb16(image::ImageBuffer::from_raw(w, h, v).ok_or_else(size)?)
        }
        (C::RGBA(8), D::U8(v)) => {
            DynamicImage::ImageRgba8(image::RgbaImage::from_raw(w, h, v).ok_or_else(size)?)
        }
        (C::RGBA(16), D::U16(v)) => {
            DynamicImage::ImageRgba16(image::ImageBuffer::from_raw(w, h, v).ok_or_else(size)?)
        }
        (color, data) => {
            let sample = match data {
                D::U8(_) => "8-bit unsigned integer",
                D::U16(_) => "16-bit unsigned integer",
                D::U32(_) => "32-bit unsigned integer",
                D::U64(_) => "64-bit unsigned integer",
                D::I8(_) => "8-bit signed integer",
                D::I16(_) => "16-bit signed integer",
                D::I32(_) => "32-bit signed integer",
                D::I64(_) => "64-bit signed integer",
                D::F16(_) => "16-bit floating-point",
                D::F32(_) => "32-bit floating-point",
                D::F64(_) => "64-bit floating-point",
            };
            return Err(format!(
                "its samples are {sample} ({color:?}), which Lamina does not read. {SUPPORTED}"
            ));
        }
    };
    Ok(img)
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
    // The window offers up to 1024; a hand-edited experiment may say more.
    const LARGEST: u32 = 4096;
    if opts.width > LARGEST || opts.height > LARGEST {
        return Err(DataError::Invalid(format!(
            "images are to be resized to {} × {} pixels; the most is {LARGEST} × {LARGEST}",
            opts.width, opts.height
        )));
    }
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut loose = 0;
    // Class folders without images (left out, and said), and folders whose
    // own subfolders hold the images (the data folder is one level deeper).
    let mut empty_classes = Vec::new();
    let mut deeper = None;
    for entry in sorted_entries(root)? {
        if entry.is_dir() {
            let class = entry
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let before = files.len();
            let inside = sorted_entries(&entry)?;
            for f in &inside {
                if f.is_file() && is_image(f) {
                    files.push((f.clone(), class.clone()));
                }
            }
            if files.len() == before {
                let nested = inside.iter().filter(|d| d.is_dir()).any(|d| {
                    sorted_entries(d).is_ok_and(|fs| fs.iter().any(|f| f.is_file() && is_image(f)))
                });
                if nested && deeper.is_none() {
                    deeper = Some(entry.clone());
                }
                empty_classes.push(class);
            }
        } else if is_image(&entry) {
            loose += 1;
        }
    }
    if files.is_empty() {
        if let Some(inner) = deeper {
            return Err(DataError::Invalid(format!(
                "{} holds no class folders of images, but {} does (its subfolders hold the images): choose {} as the data folder",
                root.display(),
                inner.display(),
                inner.display()
            )));
        }
        return Err(DataError::NoImages {
            path: root.to_path_buf(),
        });
    }

    // Decode on every core; the first broken file (in folder order) is reported.
    super::progress::start("images", super::progress::Unit::Images, files.len() as u64);
    let progress = super::progress::current();
    let progress = &progress;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, files.len());
    let per_thread = files.len().div_ceil(threads);
    let parts: Vec<Result<Vec<Vec<DynamicImage>>, DataError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(path, _)| {
                            if progress.as_ref().is_some_and(|p| p.is_cancelled()) {
                                return Err(DataError::io(path)(std::io::Error::other(
                                    super::progress::CANCELLED,
                                )));
                            }
                            let image = decode(path, opts);
                            super::progress::advance(progress, 1);
                            image
                        })
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

    let planes = || images.iter().flatten();
    let all_gray = planes().all(|i| !i.color().has_color());
    let deep = planes().any(|i| i.color().bytes_per_pixel() / i.color().channel_count() > 1);
    let gray_count = images.iter().filter(|i| !i[0].color().has_color()).count();
    let alpha_count = planes().filter(|i| i.color().has_alpha()).count();
    let rgb = !opts.tiff_pages_as_channels
        && match opts.color {
            ColorMode::Auto => !all_gray,
            ColorMode::Grayscale => false,
            ColorMode::Rgb => true,
        };
    // Pages as channels: every file must have as many pages as the first.
    let channels = if opts.tiff_pages_as_channels {
        let n = images[0].len();
        if let Some(k) = images.iter().position(|i| i.len() != n) {
            return Err(DataError::Image {
                path: files[k].0.clone(),
                message: format!(
                    "it has {} page(s) but {} has {n}; with pages as channels every image needs the same number",
                    images[k].len(),
                    files[0].0.display()
                ),
            });
        }
        n
    } else if rgb {
        3
    } else {
        1
    };
    let (w, h) = (opts.width, opts.height);
    let plane = w as usize * h as usize;
    let mut values = vec![0.0f32; images.len() * channels * plane];
    let mut resized = 0;
    for (i, pages) in images.iter().enumerate() {
        if pages[0].width() != w || pages[0].height() != h {
            resized += 1;
        }
        let sample = &mut values[i * channels * plane..(i + 1) * channels * plane];
        let per_page = if rgb { 3 } else { 1 };
        for (p, img) in pages.iter().enumerate() {
            let scaled;
            let img = if img.width() != w || img.height() != h {
                scaled = img.resize_exact(w, h, FilterType::Triangle);
                &scaled
            } else {
                img
            };
            fill(
                &mut sample[p * per_page * plane..(p + 1) * per_page * plane],
                img,
                rgb,
                deep,
                plane,
            );
        }
    }

    let mut notes = Vec::new();
    notes.push(format!(
        "images are read as {} ({})",
        if opts.tiff_pages_as_channels {
            format!("{channels} channels, one per TIFF page")
        } else if rgb {
            "RGB".to_string()
        } else {
            "grayscale".to_string()
        },
        if deep {
            "16-bit values; 8-bit images are scaled up to the same range"
        } else {
            "8-bit values"
        }
    ));
    if rgb && gray_count > 0 {
        notes.push(format!(
            "{gray_count} grayscale images were copied into all three colour channels"
        ));
    }
    if !rgb && !opts.tiff_pages_as_channels && gray_count < images.len() {
        notes.push(format!(
            "{} colour images were converted to gray (luminance)",
            images.len() - gray_count
        ));
    }
    if alpha_count > 0 {
        notes.push(format!(
            "the transparency (alpha) channel of {alpha_count} images was dropped"
        ));
    }
    if resized > 0 {
        notes.push(format!("{resized} images were resized to {w} × {h} pixels"));
    }
    if !empty_classes.is_empty() {
        notes.push(format!(
            "class folder{} {} hold{} no images and {} left out",
            if empty_classes.len() == 1 { "" } else { "s" },
            empty_classes
                .iter()
                .map(|c| format!("'{c}'"))
                .collect::<Vec<_>>()
                .join(", "),
            if empty_classes.len() == 1 { "s" } else { "" },
            if empty_classes.len() == 1 {
                "is"
            } else {
                "are"
            }
        ));
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
        feature_names: if opts.tiff_pages_as_channels {
            (1..=channels).map(|p| format!("page {p}")).collect()
        } else if rgb {
            vec!["red".into(), "green".into(), "blue".into()]
        } else {
            vec!["gray".into()]
        },
        labels,
        max_value: if deep { 65535.0 } else { 255.0 },
        notes,
        text_columns: Vec::new(),
        sparse: None,
        lengths: None,
        joined: Vec::new(),
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
            ..ImageOptions::default()
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

    #[test]
    fn empty_class_folders_are_said_and_images_one_level_deeper_are_pointed_to() {
        let dir = std::env::temp_dir().join(format!("lamina-img-deep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let inner = dir.join("experiment1");
        for class in ["a", "b"] {
            std::fs::create_dir_all(inner.join(class)).unwrap();
            for k in 0..2 {
                let img = image::GrayImage::from_pixel(4, 4, image::Luma([k * 50]));
                img.save(inner.join(class).join(format!("{k}.png")))
                    .unwrap();
            }
        }
        let opts = ImageOptions {
            width: 4,
            height: 4,
            ..ImageOptions::default()
        };
        let msg = read(&dir, &opts).unwrap_err().to_string();
        assert!(
            msg.contains("choose") && msg.contains("experiment1"),
            "{msg}"
        );
        std::fs::create_dir_all(inner.join("c")).unwrap();
        let ds = read(&inner, &opts).unwrap();
        assert_eq!(ds.labels.class_names(), ["a", "b"]);
        assert!(
            ds.notes
                .iter()
                .any(|n| n.contains("class folder 'c' holds no images and is left out")),
            "{:?}",
            ds.notes
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
