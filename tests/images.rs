//! Image folders with 16-bit, multi-page and unsupported TIFF files, and mixed
//! grayscale/colour files: what is read, and the message when it cannot be.

use std::path::{Path, PathBuf};

use lamina::data::image::read;
use lamina::spec::{ColorMode, ImageOptions};
use tiff::encoder::{TiffEncoder, colortype};

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lamina-img-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::create_dir_all(dir.join("b")).unwrap();
    dir
}

/// A TIFF with one 8 × 6 page of 16-bit gray per entry of `pages`; page `p`
/// holds `base + p * 1000 + pixel index`.
fn gray16(path: &Path, pages: usize, base: u16) {
    let mut enc = TiffEncoder::new(std::fs::File::create(path).unwrap()).unwrap();
    for p in 0..pages {
        let data: Vec<u16> = (0..48).map(|i| base + p as u16 * 1000 + i).collect();
        enc.write_image::<colortype::Gray16>(8, 6, &data).unwrap();
    }
}

fn opts() -> ImageOptions {
    ImageOptions {
        width: 8,
        height: 6,
        color: ColorMode::Auto,
        ..ImageOptions::default()
    }
}

#[test]
fn sixteen_bit_tiffs_keep_their_values() {
    let dir = folder("16");
    gray16(&dir.join("a/one.tif"), 1, 1000);
    gray16(&dir.join("b/two.tiff"), 1, 40000);
    let ds = read(&dir, &opts()).unwrap();
    assert_eq!(ds.shape, [1, 6, 8]);
    assert_eq!(ds.max_value, 65535.0);
    assert_eq!(ds.sample(0)[..3], [1000.0, 1001.0, 1002.0]);
    assert_eq!(ds.sample(1)[47], 40047.0);
    assert!(ds.notes[0].contains("16-bit"), "{:?}", ds.notes);

    // An 8-bit PNG beside them is scaled up to the 16-bit range (255 → 65535).
    image::GrayImage::from_pixel(8, 6, image::Luma([255u8]))
        .save(dir.join("a/eight.png"))
        .unwrap();
    let ds = read(&dir, &opts()).unwrap();
    let eight = ds
        .ids
        .iter()
        .position(|i| i.ends_with("eight.png"))
        .unwrap();
    assert_eq!(ds.sample(eight)[0], 65535.0);
}

#[test]
fn a_page_of_a_multi_page_tiff_or_every_page_as_a_channel() {
    let dir = folder("pages");
    gray16(&dir.join("a/x.tif"), 3, 100);
    gray16(&dir.join("b/y.tif"), 3, 200);

    let mut o = opts();
    o.tiff_page = 2;
    let ds = read(&dir, &o).unwrap();
    assert_eq!(ds.shape, [1, 6, 8]);
    assert_eq!(ds.sample(0)[0], 1100.0);

    o.tiff_pages_as_channels = true;
    let ds = read(&dir, &o).unwrap();
    assert_eq!(ds.shape, [3, 6, 8]);
    assert_eq!(ds.feature_names, ["page 1", "page 2", "page 3"]);
    let s = ds.sample(1);
    assert_eq!((s[0], s[48], s[96]), (200.0, 1200.0, 2200.0));

    o.tiff_pages_as_channels = false;
    o.tiff_page = 5;
    let msg = read(&dir, &o).unwrap_err().to_string();
    assert!(
        msg.contains("x.tif") && msg.contains("page 5 was chosen, but the file has 3 pages"),
        "{msg}"
    );

    // Pages as channels needs the same number of pages in every file.
    gray16(&dir.join("b/z.tif"), 2, 0);
    o.tiff_pages_as_channels = true;
    let msg = read(&dir, &o).unwrap_err().to_string();
    assert!(msg.contains("z.tif") && msg.contains("2 page(s)"), "{msg}");
}

#[test]
fn unsupported_sample_formats_are_named() {
    let dir = folder("unsupported");
    gray16(&dir.join("a/fine.tif"), 1, 0);
    let path = dir.join("b/float.tif");
    let mut enc = TiffEncoder::new(std::fs::File::create(&path).unwrap()).unwrap();
    enc.write_image::<colortype::Gray64Float>(8, 6, &[0.5f64; 48])
        .unwrap();
    drop(enc);
    let msg = read(&dir, &opts()).unwrap_err().to_string();
    assert!(
        msg.contains("float.tif")
            && msg.contains("64-bit floating-point")
            && msg.contains("16-bit unsigned"),
        "{msg}"
    );

    let mut enc = TiffEncoder::new(std::fs::File::create(&path).unwrap()).unwrap();
    enc.write_image::<colortype::GrayI16>(8, 6, &[-3i16; 48])
        .unwrap();
    drop(enc);
    let msg = read(&dir, &opts()).unwrap_err().to_string();
    assert!(msg.contains("16-bit signed integer"), "{msg}");

    // A file cut short is named too, not a panic.
    let bytes = std::fs::read(dir.join("a/fine.tif")).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let msg = read(&dir, &opts()).unwrap_err().to_string();
    assert!(msg.contains("float.tif"), "{msg}");
}

#[test]
fn grayscale_and_colour_files_mix_by_a_stated_conversion() {
    let dir = folder("mix");
    image::GrayImage::from_pixel(8, 6, image::Luma([90u8]))
        .save(dir.join("a/g.png"))
        .unwrap();
    image::RgbaImage::from_pixel(8, 6, image::Rgba([200u8, 10, 20, 128]))
        .save(dir.join("b/c.png"))
        .unwrap();
    let ds = read(&dir, &opts()).unwrap();
    assert_eq!(ds.shape, [3, 6, 8]);
    let g = ds.sample(0);
    assert_eq!((g[0], g[48], g[96]), (90.0, 90.0, 90.0));
    let c = ds.sample(1);
    assert_eq!((c[0], c[48], c[96]), (200.0, 10.0, 20.0));
    let notes = ds.notes.join(" | ");
    assert!(
        notes.contains("1 grayscale images were copied into all three colour channels")
            && notes.contains("alpha"),
        "{notes}"
    );

    let mut o = opts();
    o.color = ColorMode::Grayscale;
    let ds = read(&dir, &o).unwrap();
    assert_eq!(ds.shape, [1, 6, 8]);
    assert!(
        ds.notes
            .join(" ")
            .contains("1 colour images were converted to gray")
    );
}
