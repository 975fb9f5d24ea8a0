//! The encodings AWSTOE names: UTF-8, UTF-16 and UTF-32, little- or big-endian (`utf16` and
//! `utf32` alone are little-endian), any case, with or without the dash.

/// A text encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

impl Encoding {
    /// The encoding written as `name` (`utf8`, `UTF-16-BE`, …); none means UTF-8.
    pub fn parse(name: Option<&str>) -> Result<Encoding, String> {
        let Some(name) = name else {
            return Ok(Encoding::Utf8);
        };
        let key: String = name
            .chars()
            .filter(|c| *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        Ok(match key.as_str() {
            "utf8" => Encoding::Utf8,
            "utf16" | "utf16le" => Encoding::Utf16Le,
            "utf16be" => Encoding::Utf16Be,
            "utf32" | "utf32le" => Encoding::Utf32Le,
            "utf32be" => Encoding::Utf32Be,
            _ => {
                return Err(format!(
                    "`encoding`: `{name}` is not one of utf8, utf16, utf16-LE, utf16-BE, utf32, utf32-LE, utf32-BE"
                ));
            }
        })
    }

    /// `text` in this encoding, without a byte order mark.
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            Encoding::Utf16Le => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            Encoding::Utf16Be => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
            Encoding::Utf32Le => text
                .chars()
                .flat_map(|c| (c as u32).to_le_bytes())
                .collect(),
            Encoding::Utf32Be => text
                .chars()
                .flat_map(|c| (c as u32).to_be_bytes())
                .collect(),
        }
    }

    /// `bytes` read as this encoding; a byte order mark of the encoding is dropped.
    pub fn decode(self, bytes: &[u8]) -> Result<String, String> {
        let bad = || format!("the file is not valid {}", self.name());
        match self {
            Encoding::Utf8 => {
                let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
                String::from_utf8(bytes.to_vec()).map_err(|_| bad())
            }
            Encoding::Utf16Le | Encoding::Utf16Be => {
                if !bytes.len().is_multiple_of(2) {
                    return Err(bad());
                }
                let units = bytes.chunks_exact(2).map(|c| {
                    let pair = [c[0], c[1]];
                    if self == Encoding::Utf16Le {
                        u16::from_le_bytes(pair)
                    } else {
                        u16::from_be_bytes(pair)
                    }
                });
                let text = char::decode_utf16(units)
                    .collect::<Result<String, _>>()
                    .map_err(|_| bad())?;
                Ok(text.strip_prefix('\u{feff}').unwrap_or(&text).to_string())
            }
            Encoding::Utf32Le | Encoding::Utf32Be => {
                if !bytes.len().is_multiple_of(4) {
                    return Err(bad());
                }
                let text = bytes
                    .chunks_exact(4)
                    .map(|c| {
                        let quad = [c[0], c[1], c[2], c[3]];
                        let n = if self == Encoding::Utf32Le {
                            u32::from_le_bytes(quad)
                        } else {
                            u32::from_be_bytes(quad)
                        };
                        char::from_u32(n)
                    })
                    .collect::<Option<String>>()
                    .ok_or_else(bad)?;
                Ok(text.strip_prefix('\u{feff}').unwrap_or(&text).to_string())
            }
        }
    }

    /// The encoding a file's byte order mark names, if it has one.
    pub fn sniff(bytes: &[u8]) -> Option<Encoding> {
        // UTF-32 LE's mark starts like UTF-16 LE's: look at it first.
        if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) {
            Some(Encoding::Utf32Le)
        } else if bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
            Some(Encoding::Utf32Be)
        } else if bytes.starts_with(&[0xFF, 0xFE]) {
            Some(Encoding::Utf16Le)
        } else if bytes.starts_with(&[0xFE, 0xFF]) {
            Some(Encoding::Utf16Be)
        } else if bytes.starts_with(b"\xEF\xBB\xBF") {
            Some(Encoding::Utf8)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf16Le => "UTF-16-LE",
            Encoding::Utf16Be => "UTF-16-BE",
            Encoding::Utf32Le => "UTF-32-LE",
            Encoding::Utf32Be => "UTF-32-BE",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names() {
        for e in ["utf8", "UTF-16", "utf16-BE", "utf-32-le", "UTF32BE"] {
            let e = Encoding::parse(Some(e)).unwrap();
            assert_eq!(e.decode(&e.encode("héllo ✓")).unwrap(), "héllo ✓");
        }
        assert_eq!(Encoding::parse(Some("utf16")), Ok(Encoding::Utf16Le));
        assert_eq!(Encoding::Utf16Be.encode("A"), vec![0, b'A']);
        assert!(Encoding::parse(Some("latin1")).is_err());
    }
}
