//! Charts as people will see them in any notebook: an SVG chart goes out with a PNG of itself.
//! JupyterLab renders `image/svg+xml` only in a trusted notebook; an executed notebook opened
//! later is untrusted and would show the text form instead. A PNG is shown either way, and the
//! SVG stays for the frontends that take it. The PNG is drawn at twice the size and shown at
//! the SVG's size, so it stays sharp on high-density screens.

use crate::MimeBundle;
use base64::Engine;
use serde_json::json;
use std::sync::{Arc, OnceLock};

/// The bundle with the chart as SVG and, where it can be drawn, as PNG.
pub fn with_chart(bundle: MimeBundle, svg: String) -> MimeBundle {
    let bundle = match png_of(&svg) {
        Ok((png, width, height)) => {
            let mut b = bundle.with("image/png", base64::engine::general_purpose::STANDARD.encode(png));
            b.metadata.insert("image/png".into(), json!({"width": width, "height": height}));
            b
        }
        // The SVG and the text form are still there.
        Err(_) => bundle,
    };
    bundle.with("image/svg+xml", svg)
}

/// The SVG drawn as PNG bytes at twice its size, with the size it is shown at.
pub fn png_of(svg: &str) -> Result<(Vec<u8>, u32, u32), String> {
    let options = resvg::usvg::Options { fontdb: fonts(), ..Default::default() };
    let tree = resvg::usvg::Tree::from_str(svg, &options).map_err(|e| format!("not an SVG chart: {e}"))?;
    let size = tree.size().to_int_size();
    let (w, h) = (size.width(), size.height());
    let mut pixmap = resvg::tiny_skia::Pixmap::new(w * 2, h * 2).ok_or("an empty chart")?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(&tree, resvg::tiny_skia::Transform::from_scale(2.0, 2.0), &mut pixmap.as_mut());
    let png = pixmap.encode_png().map_err(|e| format!("cannot encode the PNG: {e}"))?;
    Ok((png, w, h))
}

/// The system's fonts, looked up once per process (tens of milliseconds).
fn fonts() -> Arc<resvg::usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<resvg::usvg::fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = resvg::usvg::fontdb::Database::new();
            db.load_system_fonts();
            db.set_sans_serif_family("DejaVu Sans");
            Arc::new(db)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" font-family="sans-serif" font-size="11"><rect x="10" y="10" width="50" height="20" fill="#1f77b4"/><text x="70" y="25">rank 0</text></svg>"##;

    fn pixels(png: &[u8]) -> resvg::tiny_skia::Pixmap {
        resvg::tiny_skia::Pixmap::decode_png(png).unwrap()
    }

    #[test]
    fn a_chart_comes_with_a_png_of_itself() {
        let b = with_chart(MimeBundle::plain("a chart"), SVG.to_string());
        assert_eq!(b.data["image/svg+xml"], SVG);
        assert_eq!(b.metadata["image/png"], json!({"width": 120, "height": 40}));
        let png = base64::engine::general_purpose::STANDARD.decode(b.data["image/png"].as_str().unwrap()).unwrap();
        let p = pixels(&png);
        assert_eq!((p.width(), p.height()), (240, 80));
        // The bar is drawn in its colour, the background is white.
        let at = |x: u32, y: u32| p.pixel(x, y).unwrap();
        assert_eq!((at(60, 40).red(), at(60, 40).green(), at(60, 40).blue()), (0x1f, 0x77, 0xb4));
        assert_eq!(at(5, 5).red(), 255);
    }

    #[test]
    fn the_text_is_drawn_where_the_system_has_fonts() {
        if fonts().is_empty() {
            return;
        }
        let (png, _, _) = png_of(SVG).unwrap();
        let p = pixels(&png);
        // Some dark pixels where the label is.
        let dark = (140..230).flat_map(|x| (30..60).map(move |y| (x, y))).filter(|&(x, y)| p.pixel(x, y).unwrap().red() < 100).count();
        assert!(dark > 20, "the label drew {dark} dark pixels");
    }

    #[test]
    fn what_is_not_svg_keeps_its_other_forms() {
        let b = with_chart(MimeBundle::plain("a chart"), "<svg".to_string());
        assert!(!b.data.contains_key("image/png"));
        assert_eq!(b.text(), Some("a chart"));
    }
}
