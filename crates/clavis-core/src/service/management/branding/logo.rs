//! Logo uploads: the type is decided by the file's magic bytes (never by the name or the
//! declared type alone), only PNG, JPEG, GIF and WebP are accepted — SVG, which can carry
//! script, never is — at most [`MAX_LOGO_BYTES`], and the dimensions read from the image
//! header must be within [`MAX_LOGO_SIDE`] on each side. Nothing is decoded beyond the
//! header.

use crate::CoreError;

/// Largest logo, in bytes.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;
/// Largest width and height, in pixels.
pub const MAX_LOGO_SIDE: u32 = 1024;

/// An image format a logo may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoFormat {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl LogoFormat {
    /// The media type the logo is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
        }
    }
}

/// A checked logo: its format and dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogoInfo {
    pub format: LogoFormat,
    pub width: u32,
    pub height: u32,
}

fn invalid(reason: impl Into<String>) -> CoreError {
    CoreError::invalid("logo", reason)
}

/// Check an uploaded logo. `declared` is the request's media type (parameters such as
/// `; charset=` ignored): it must name an accepted image type and agree with the bytes.
pub fn check_logo(declared: &str, bytes: &[u8]) -> Result<LogoInfo, CoreError> {
    let declared = declared
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if declared.contains("svg") {
        return Err(invalid(
            "SVG images are not accepted; upload a PNG, JPEG, GIF or WebP image",
        ));
    }
    if bytes.is_empty() {
        return Err(invalid("the request body is empty"));
    }
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(invalid(format!(
            "must be at most {} KiB",
            MAX_LOGO_BYTES / 1024
        )));
    }
    let info = sniff(bytes)?;
    let declared_ok = declared == info.format.content_type()
        || (info.format == LogoFormat::Jpeg && declared == "image/jpg");
    if !declared_ok {
        return Err(invalid(format!(
            "the content is a {} image but the request says `{declared}`",
            info.format.content_type()
        )));
    }
    if info.width == 0 || info.height == 0 {
        return Err(invalid("the image header gives no size"));
    }
    if info.width > MAX_LOGO_SIDE || info.height > MAX_LOGO_SIDE {
        return Err(invalid(format!(
            "is {}×{} pixels; at most {MAX_LOGO_SIDE}×{MAX_LOGO_SIDE} are accepted",
            info.width, info.height
        )));
    }
    Ok(info)
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}
fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}
fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

fn sniff(b: &[u8]) -> Result<LogoInfo, CoreError> {
    let truncated = || invalid("the image header is truncated or malformed");
    let info = |format, (width, height)| LogoInfo {
        format,
        width,
        height,
    };
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        // The first chunk must be IHDR: width and height, big-endian.
        if b.get(12..16) != Some(b"IHDR") {
            return Err(truncated());
        }
        let dims = be32(b, 16).zip(be32(b, 20)).ok_or_else(truncated)?;
        return Ok(info(LogoFormat::Png, dims));
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        let dims = le16(b, 6).zip(le16(b, 8)).ok_or_else(truncated)?;
        return Ok(info(LogoFormat::Gif, dims));
    }
    if b.starts_with(&[0xff, 0xd8, 0xff]) {
        return Ok(info(LogoFormat::Jpeg, jpeg_size(b).ok_or_else(truncated)?));
    }
    if b.get(0..4) == Some(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return Ok(info(LogoFormat::Webp, webp_size(b).ok_or_else(truncated)?));
    }
    let text = String::from_utf8_lossy(&b[..b.len().min(512)]).to_ascii_lowercase();
    if text.contains("<svg") || text.contains("<?xml") {
        return Err(invalid(
            "SVG images are not accepted; upload a PNG, JPEG, GIF or WebP image",
        ));
    }
    Err(invalid("must be a PNG, JPEG, GIF or WebP image"))
}

/// Width and height from a JPEG's first start-of-frame segment.
fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    loop {
        if *b.get(i)? != 0xff {
            return None;
        }
        while *b.get(i)? == 0xff {
            i += 1;
        }
        let marker = *b.get(i)?;
        i += 1;
        match marker {
            // Markers without a segment.
            0x01 | 0xd0..=0xd7 => continue,
            // Start of scan or end of image before any frame header.
            0xd9 | 0xda => return None,
            // Start of frame (not DHT, JPG or DAC): precision, height, width.
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                let height = be16(b, i + 3)?;
                let width = be16(b, i + 5)?;
                return Some((width, height));
            }
            _ => {
                let len = usize::try_from(be16(b, i)?).ok()?;
                if len < 2 {
                    return None;
                }
                i += len;
            }
        }
    }
}

/// Width and height from a WebP's first chunk (`VP8 `, `VP8L` or `VP8X`).
fn webp_size(b: &[u8]) -> Option<(u32, u32)> {
    match b.get(12..16)? {
        b"VP8 " => {
            // Frame tag (3 bytes), start code, then 14-bit width and height.
            if b.get(23..26)? != [0x9d, 0x01, 0x2a] {
                return None;
            }
            Some((le16(b, 26)? & 0x3fff, le16(b, 28)? & 0x3fff))
        }
        b"VP8L" => {
            if *b.get(20)? != 0x2f {
                return None;
            }
            let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        b"VP8X" => Some((le24(b, 24)? + 1, le24(b, 27)? + 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    mod samples {
        /// A PNG signature and IHDR chunk.
        pub fn png(w: u32, h: u32) -> Vec<u8> {
            let mut v = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
            v.extend_from_slice(&w.to_be_bytes());
            v.extend_from_slice(&h.to_be_bytes());
            v.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
            v
        }
    }

    fn gif(w: u16, h: u16) -> Vec<u8> {
        let mut v = b"GIF89a".to_vec();
        v.extend_from_slice(&w.to_le_bytes());
        v.extend_from_slice(&h.to_le_bytes());
        v.extend_from_slice(&[0, 0, 0]);
        v
    }

    fn jpeg(w: u16, h: u16) -> Vec<u8> {
        let mut v = vec![0xff, 0xd8];
        // an APP0 segment, then SOF0
        v.extend_from_slice(&[0xff, 0xe0, 0x00, 0x10]);
        v.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        v.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 0x08]);
        v.extend_from_slice(&h.to_be_bytes());
        v.extend_from_slice(&w.to_be_bytes());
        v.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        v
    }

    fn riff(chunk: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = b"RIFF\0\0\0\0WEBP".to_vec();
        v.extend_from_slice(chunk);
        v.extend_from_slice(&[0, 0, 0, 0]);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn accepted_formats_and_sizes() {
        let png = samples::png(640, 480);
        let i = check_logo("image/png", &png).unwrap();
        assert_eq!((i.format, i.width, i.height), (LogoFormat::Png, 640, 480));
        let i = check_logo("image/gif", &gif(1024, 1)).unwrap();
        assert_eq!((i.width, i.height), (1024, 1));
        let i = check_logo("image/jpeg; charset=binary", &jpeg(300, 200)).unwrap();
        assert_eq!((i.format, i.width, i.height), (LogoFormat::Jpeg, 300, 200));
        assert!(check_logo("image/jpg", &jpeg(1, 1)).is_ok());
        let lossy = riff(b"VP8 ", &[0, 0, 0, 0x9d, 0x01, 0x2a, 100, 0, 50, 0]);
        let i = check_logo("image/webp", &lossy).unwrap();
        assert_eq!((i.width, i.height), (100, 50));
        let bits: u32 = 99 | (49 << 14);
        let mut body = vec![0x2f];
        body.extend_from_slice(&bits.to_le_bytes());
        let i = check_logo("image/webp", &riff(b"VP8L", &body)).unwrap();
        assert_eq!((i.width, i.height), (100, 50));
        let i = check_logo(
            "image/webp",
            &riff(b"VP8X", &[0, 0, 0, 0, 199, 0, 0, 99, 0, 0]),
        )
        .unwrap();
        assert_eq!((i.width, i.height), (200, 100));
    }

    #[test]
    fn refused() {
        // too large, in pixels or bytes
        assert!(check_logo("image/png", &samples::png(1025, 10)).is_err());
        assert!(check_logo("image/gif", &gif(10, 4000)).is_err());
        assert!(check_logo("image/jpeg", &jpeg(5000, 5000)).is_err());
        assert!(check_logo("image/png", &samples::png(0, 10)).is_err());
        let mut big = samples::png(10, 10);
        big.resize(MAX_LOGO_BYTES + 1, 0);
        assert!(check_logo("image/png", &big).is_err());
        // SVG, whatever it claims to be
        let svg = b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
        assert!(check_logo("image/svg+xml", svg).is_err());
        assert!(check_logo("image/png", svg).is_err());
        // the declared type must match the bytes
        assert!(check_logo("image/gif", &samples::png(10, 10)).is_err());
        assert!(check_logo("text/html", &samples::png(10, 10)).is_err());
        // truncated and unknown
        assert!(check_logo("image/png", &samples::png(10, 10)[..20]).is_err());
        assert!(check_logo("image/jpeg", &[0xff, 0xd8, 0xff, 0xd9]).is_err());
        assert!(check_logo("image/png", b"").is_err());
        assert!(check_logo("image/png", b"hello").is_err());
        assert!(check_logo("image/webp", &riff(b"VP9 ", &[0; 10])).is_err());
    }
}
