//! The weekly report's picture: a bar chart of each instance's spend in the
//! week, with what the bot's own stops saved beside it, drawn in memory as a
//! PNG. The font is embedded (a Latin-1 subset of DejaVu Sans), so the
//! image needs nothing from the system it runs on.

use image::ImageEncoder;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::sync::Once;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");
const FAMILY: &str = "sans-serif";
const WIDTH: u32 = 960;
const HEIGHT: u32 = 540;

/// A series of bars: its colour, legend, offset in an instance's slot, and value.
type Series = (RGBColor, &'static str, f64, fn(&Bar) -> f64);

/// One instance's bars.
pub struct Bar {
    pub alias: String,
    pub spend: f64,
    pub saved: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("the chart's embedded font could not be read")]
    Font,
    #[error("the chart could not be drawn: {0}")]
    Draw(String),
    #[error("the chart could not be encoded as PNG: {0}")]
    Encode(#[source] image::ImageError),
}

fn font_ready() -> Result<(), ChartError> {
    static REGISTER: Once = Once::new();
    let mut ok = true;
    REGISTER.call_once(|| {
        ok = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok();
    });
    ok.then_some(()).ok_or(ChartError::Font)
}

fn drawn<E: std::fmt::Debug>(e: E) -> ChartError {
    ChartError::Draw(format!("{e:?}"))
}

/// The chart as PNG bytes.
pub fn weekly(bars: &[Bar], currency: &str, title: &str) -> Result<Vec<u8>, ChartError> {
    font_ready()?;
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(drawn)?;
        let top = bars
            .iter()
            .map(|b| b.spend.max(b.saved))
            .fold(0.0f64, f64::max)
            .max(1.0)
            * 1.15;
        let n = bars.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FAMILY, 26))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..n as f64, 0.0..top)
            .map_err(drawn)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc(currency)
            .label_style((FAMILY, 15))
            .draw()
            .map_err(drawn)?;
        // Each instance's name under its pair of bars, in pixels below the axis.
        let style =
            TextStyle::from((FAMILY, 15).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, b) in bars.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
            root.draw(&Text::new(b.alias.clone(), (x, y + 8), style.clone()))
                .map_err(drawn)?;
        }
        // Two bars an instance: what it spent (left), what stops saved (right).
        let series: [Series; 2] = [
            (RGBColor(26, 77, 143), "spent this week", 0.12, |b| b.spend),
            (
                RGBColor(46, 160, 67),
                "saved by the bot's stops",
                0.52,
                |b| b.saved,
            ),
        ];
        for (colour, label, offset, value) in series {
            chart
                .draw_series(bars.iter().enumerate().map(|(i, b)| {
                    let x = i as f64 + offset;
                    Rectangle::new([(x, 0.0), (x + 0.36, value(b))], colour.filled())
                }))
                .map_err(drawn)?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled())
                });
        }
        chart
            .configure_series_labels()
            .label_font((FAMILY, 15))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(drawn)?;
        root.present().map_err(drawn)?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, WIDTH, HEIGHT, image::ColorType::Rgb8)
        .map_err(ChartError::Encode)?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_a_png_of_its_size() {
        let bars = vec![
            Bar {
                alias: "gpu".into(),
                spend: 82.5,
                saved: 19.8,
            },
            Bar {
                alias: "foo".into(),
                spend: 3.1,
                saved: 0.0,
            },
        ];
        let png = weekly(&bars, "USD", "Spend this week").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height, big-endian, right after the signature.
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), WIDTH);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), HEIGHT);
        assert!(
            png.len() > 5_000,
            "something was drawn: {} bytes",
            png.len()
        );
        if let Ok(path) = std::env::var("WORKBENCH_CHART_OUT") {
            std::fs::write(path, &png).unwrap();
        }
    }

    #[test]
    fn no_instance_still_draws_an_empty_chart() {
        let png = weekly(&[], "USD", "Spend this week").unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
    }
}
