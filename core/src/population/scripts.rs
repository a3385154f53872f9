//! A name as another agency writes it: in Cyrillic or Arabic script, or with diacritics added,
//! dropped or in capitals. Simple letter maps, good enough to exercise folding; not a
//! transliteration standard.

use rand::rngs::StdRng;
use rand::Rng;

/// A Latin-script name written in Cyrillic, as a caseworker at home would.
pub(super) fn to_cyrillic(name: &str) -> String {
    const MULTI: &[(&str, &str)] = &[
        ("shch", "щ"),
        ("sh", "ш"),
        ("ch", "ч"),
        ("zh", "ж"),
        ("kh", "х"),
        ("ts", "ц"),
        ("ya", "я"),
        ("yu", "ю"),
        ("ye", "е"),
        ("yo", "ё"),
        ("iy", "ий"),
    ];
    const ONE: &[(char, &str)] = &[
        ('a', "а"),
        ('b', "б"),
        ('v', "в"),
        ('g', "г"),
        ('d', "д"),
        ('e', "е"),
        ('z', "з"),
        ('i', "и"),
        ('y', "й"),
        ('k', "к"),
        ('l', "л"),
        ('m', "м"),
        ('n', "н"),
        ('o', "о"),
        ('p', "п"),
        ('r', "р"),
        ('s', "с"),
        ('t', "т"),
        ('u', "у"),
        ('f', "ф"),
        ('h', "х"),
        ('x', "кс"),
        ('j', "дж"),
        ('c', "к"),
        ('w', "в"),
        ('q', "к"),
    ];
    let lower = name.to_lowercase();
    let mut out = String::new();
    let mut rest = lower.as_str();
    let mut start = true;
    while let Some(c) = rest.chars().next() {
        let piece = MULTI
            .iter()
            .find(|(l, _)| rest.starts_with(l))
            .map(|(l, c)| (l.len(), (*c).to_owned()))
            .unwrap_or_else(|| {
                let cyr = ONE
                    .iter()
                    .find(|(l, _)| *l == c)
                    .map(|(_, c)| (*c).to_owned())
                    .unwrap_or_else(|| c.to_string());
                (c.len_utf8(), cyr)
            });
        let text = if start { capitalize(&piece.1) } else { piece.1 };
        start = !c.is_alphabetic();
        out.push_str(&text);
        rest = &rest[piece.0..];
    }
    out
}

/// A Latin-script name written in Arabic script: consonants and long vowels, short vowels
/// left out as the script does.
pub(super) fn to_arabic(name: &str) -> String {
    const MULTI: &[(&str, &str)] = &[
        ("kh", "خ"),
        ("sh", "ش"),
        ("th", "ث"),
        ("dh", "ذ"),
        ("gh", "غ"),
        ("ou", "و"),
        ("oo", "و"),
        ("ee", "ي"),
        ("aa", "ا"),
    ];
    const ONE: &[(char, &str)] = &[
        ('b', "ب"),
        ('t', "ت"),
        ('j', "ج"),
        ('h', "ح"),
        ('d', "د"),
        ('r', "ر"),
        ('z', "ز"),
        ('s', "س"),
        ('f', "ف"),
        ('q', "ق"),
        ('k', "ك"),
        ('l', "ل"),
        ('m', "م"),
        ('n', "ن"),
        ('w', "و"),
        ('y', "ي"),
        ('g', "ج"),
        ('p', "ب"),
        ('v', "ف"),
        ('c', "ك"),
        ('x', "كس"),
    ];
    let mut words = Vec::new();
    for word in name.split([' ', '-']) {
        let lower = word.to_lowercase();
        let chars: Vec<char> = lower.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut previous = ' ';
        while i < chars.len() {
            let rest: String = chars[i..].iter().collect();
            if let Some((l, a)) = MULTI.iter().find(|(l, _)| rest.starts_with(l)) {
                out.push_str(a);
                i += l.len();
                previous = 'x';
                continue;
            }
            let c = chars[i];
            let last = i + 1 == chars.len();
            if c == previous {
                // A doubled consonant is one letter (with a shadda nobody types).
                i += 1;
                continue;
            }
            if "aeiou".contains(c) {
                if i == 0 {
                    out.push('ا');
                } else if last {
                    out.push(match c {
                        'a' => 'ا',
                        'o' | 'u' => 'و',
                        _ => 'ي',
                    });
                } else if c == 'i' {
                    out.push('ي');
                }
            } else if let Some((_, a)) = ONE.iter().find(|(l, _)| *l == c) {
                out.push_str(a);
            }
            previous = c;
            i += 1;
        }
        words.push(out);
    }
    words.join(" ")
}

/// Diacritics added or dropped, or the name in capitals, as another agency's form keeps it.
pub(super) fn accents(name: &str, rng: &mut StdRng) -> String {
    let stripped: String = name
        .chars()
        .map(|c| match c {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'ó' => 'o',
            'ú' => 'u',
            'Ó' => 'O',
            'É' => 'E',
            'ï' => 'i',
            other => other,
        })
        .collect();
    if stripped != name {
        return if rng.gen_bool(0.5) {
            stripped
        } else {
            stripped.to_uppercase()
        };
    }
    match rng.gen_range(0..3) {
        0 => name.to_uppercase(),
        1 => name.replacen('e', "é", 1).replacen('i', "ï", 1),
        _ => name.replacen('a', "à", 1).replacen('o', "ô", 1),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
