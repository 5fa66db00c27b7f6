//! The password strength estimator: how many guesses an attacker who knows the usual
//! patterns would need, as a score from 0 (trivial) to 4 (very strong).
//!
//! The password is covered by the cheapest sequence of patterns, each with an estimated
//! number of guesses (in the spirit of zxcvbn, much simplified):
//! - words of the bundled common-password list (also reversed, capitalised or with
//!   "leet" substitutions such as `p@ssw0rd`): the word's rank;
//! - runs of one character (`aaaa`) and repeated blocks (`abcabcabc`);
//! - sequences (`abcdef`, `97531`, `zyx`);
//! - keyboard runs on QWERTY and AZERTY (`qwerty`, `asdfgh`, `1qaz`, `azerty`);
//! - years (`1987`, `2024`): the distance from 2020, at least 20;
//! - anything else is brute force: about 10 to 25 guesses per character depending on its
//!   class (digit, lower case, upper case, symbol).
//!
//! The total (log10) maps to the score: < 10³ → 0, < 10⁶ → 1, < 10⁸ → 2, < 10¹⁰ → 3, else 4.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The bundled list (see `data/README.md`), most common first.
pub(super) const COMMON_PASSWORDS: &str = include_str!("../../../data/common-passwords.txt");

/// Only this many characters are analysed (the policy refuses longer passwords); the
/// rest count as brute force.
const ANALYSED_CHARS: usize = 256;
/// Longest word looked up in the list.
const MAX_WORD_CHARS: usize = 24;
/// Shortest word looked up in the list (shorter ones are cheaper as brute force anyway).
const MIN_WORD_CHARS: usize = 3;

/// The list as word → rank (1 = most common). Built once from the embedded text: an
/// immutable table, like the text it comes from, not state.
pub(super) static COMMON_RANKS: LazyLock<HashMap<&'static str, u32>> = LazyLock::new(|| {
    let mut ranks = HashMap::with_capacity(10_000);
    let words = COMMON_PASSWORDS
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    for (rank, word) in (1u32..).zip(words) {
        ranks.entry(word).or_insert(rank);
    }
    ranks
});

/// Estimated strength of a password, 0 (trivial) to 4 (very strong).
pub fn password_strength(password: &str) -> u8 {
    score(log10_guesses(password))
}

/// The score of an estimated number of guesses (log10).
fn score(log10: f64) -> u8 {
    match log10 {
        g if g < 3.0 => 0,
        g if g < 6.0 => 1,
        g if g < 8.0 => 2,
        g if g < 10.0 => 3,
        _ => 4,
    }
}

/// log10 of the estimated guesses needed for `password`.
pub(super) fn log10_guesses(password: &str) -> f64 {
    let chars: Vec<char> = password.chars().collect();
    let (head, tail) = chars.split_at(chars.len().min(ANALYSED_CHARS));
    let tail_cost: f64 = tail.iter().map(|c| brute_force(*c)).sum();
    cover(head, true) + tail_cost
}

/// A pattern found at `start..end` costing `log10` guesses.
#[derive(Debug, Clone, Copy)]
struct Match {
    start: usize,
    end: usize,
    log10: f64,
}

/// The cheapest cover of `chars` by patterns and brute-forced characters (dynamic
/// programming over end positions), plus a small cost per pattern used. Repeated blocks
/// are looked for only at the top level (`blocks`), which bounds the work.
fn cover(chars: &[char], blocks: bool) -> f64 {
    let n = chars.len();
    if n == 0 {
        return 0.0;
    }
    let mut by_end: Vec<Vec<Match>> = vec![Vec::new(); n + 1];
    for m in find_matches(chars, blocks) {
        by_end[m.end].push(m);
    }
    let mut best = vec![f64::INFINITY; n + 1];
    best[0] = 0.0;
    for end in 1..=n {
        let mut b = best[end - 1] + brute_force(chars[end - 1]);
        for m in &by_end[end] {
            // log10(2): choosing where one pattern ends and the next begins.
            b = b.min(best[m.start] + m.log10.max(0.0) + std::f64::consts::LOG10_2);
        }
        best[end] = b;
    }
    best[n]
}

/// log10 of the guesses for one character nobody could predict.
fn brute_force(c: char) -> f64 {
    if c.is_ascii_digit() {
        1.0 // 10
    } else if c.is_ascii_lowercase() {
        1.2 // ~16: letters are not equally likely
    } else if c.is_ascii_uppercase() {
        1.3
    } else {
        1.4 // ~25: symbols, spaces and other scripts
    }
}

fn find_matches(chars: &[char], blocks: bool) -> Vec<Match> {
    let mut out = Vec::new();
    dictionary_matches(chars, &mut out);
    run_matches(chars, &mut out);
    if blocks {
        block_matches(chars, &mut out);
    }
    sequence_matches(chars, &mut out);
    keyboard_matches(chars, &mut out);
    year_matches(chars, &mut out);
    out
}

/// The character a "leet" substitution stands for.
fn unleet(c: char) -> char {
    match c {
        '4' | '@' => 'a',
        '8' => 'b',
        '(' | '{' | '[' | '<' => 'c',
        '3' => 'e',
        '6' | '9' => 'g',
        '1' | '!' | '|' => 'i',
        '0' => 'o',
        '5' | '$' => 's',
        '7' | '+' => 't',
        '2' => 'z',
        other => other,
    }
}

/// log10 of the ways a word could be capitalised as it is.
fn case_variations(word: &[char]) -> f64 {
    let upper = word.iter().filter(|c| c.is_uppercase()).count();
    let lower = word.iter().filter(|c| c.is_lowercase()).count();
    if upper == 0 {
        return 0.0;
    }
    let first_only = upper == 1 && word.first().is_some_and(|c| c.is_uppercase());
    if lower == 0 || first_only {
        return std::f64::consts::LOG10_2;
    }
    // Any other mix: sum over k ≤ min(upper, lower) of C(upper + lower, k).
    let n = upper + lower;
    let mut sum = 0.0f64;
    let mut c = 1.0f64;
    for k in 0..=upper.min(lower) {
        if k > 0 {
            c = c * ((n - k + 1) as f64) / (k as f64);
        }
        sum += c;
    }
    sum.log10()
}

fn dictionary_matches(chars: &[char], out: &mut Vec<Match>) {
    let lower: Vec<char> = chars.iter().flat_map(|c| c.to_lowercase()).collect();
    if lower.len() != chars.len() {
        return; // a character whose lower case is longer: skip rather than misalign
    }
    let leet: Vec<char> = lower.iter().map(|c| unleet(*c)).collect();
    let n = chars.len();
    for start in 0..n {
        for end in (start + MIN_WORD_CHARS)..=(start + MAX_WORD_CHARS).min(n) {
            let plain: String = lower[start..end].iter().collect();
            let subbed: String = leet[start..end].iter().collect();
            let reversed: String = lower[start..end].iter().rev().collect();
            let case = case_variations(&chars[start..end]);
            let substitutions = lower[start..end]
                .iter()
                .zip(&leet[start..end])
                .filter(|(a, b)| a != b)
                .count();
            let candidates = [
                (&plain, 0.0),
                (&reversed, std::f64::consts::LOG10_2),
                (
                    &subbed,
                    std::f64::consts::LOG10_2 * substitutions.min(4) as f64,
                ),
            ];
            for (word, extra) in candidates {
                if let Some(rank) = COMMON_RANKS.get(word.as_str()) {
                    out.push(Match {
                        start,
                        end,
                        log10: f64::from(*rank).log10() + case + extra,
                    });
                }
            }
        }
    }
}

/// One character repeated (`aaaa`).
fn run_matches(chars: &[char], out: &mut Vec<Match>) {
    let n = chars.len();
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && chars[j] == chars[i] {
            j += 1;
        }
        if j - i >= 3 {
            out.push(Match {
                start: i,
                end: j,
                log10: brute_force(chars[i]) + ((j - i) as f64).log10(),
            });
        }
        i = j;
    }
}

/// A block of two or more characters repeated (`abcabc`, `ilovedogsilovedogs`): from each
/// position, the shortest block that repeats.
fn block_matches(chars: &[char], out: &mut Vec<Match>) {
    let n = chars.len();
    for start in 0..n {
        for len in 2..=(n - start) / 2 {
            let block = &chars[start..start + len];
            let mut reps = 1;
            while start + (reps + 1) * len <= n
                && &chars[start + reps * len..start + (reps + 1) * len] == block
            {
                reps += 1;
            }
            if reps >= 2 {
                out.push(Match {
                    start,
                    end: start + reps * len,
                    log10: cover(block, false) + (reps as f64).log10(),
                });
                break;
            }
        }
    }
}

/// Where a character sits in an ordered alphabet (digits, or letters ignoring case).
fn seq_value(c: char) -> Option<(u8, i32)> {
    if c.is_ascii_digit() {
        Some((0, i32::from(c as u8 - b'0')))
    } else if c.is_ascii_alphabetic() {
        Some((1, i32::from(c.to_ascii_lowercase() as u8 - b'a')))
    } else {
        None
    }
}

fn sequence_matches(chars: &[char], out: &mut Vec<Match>) {
    let n = chars.len();
    let mut i = 0;
    while i + 1 < n {
        let (Some((ca, va)), Some((cb, vb))) = (seq_value(chars[i]), seq_value(chars[i + 1]))
        else {
            i += 1;
            continue;
        };
        let delta = vb - va;
        if ca != cb || delta == 0 || delta.abs() > 2 {
            i += 1;
            continue;
        }
        let mut j = i + 2;
        while j < n {
            match (seq_value(chars[j - 1]), seq_value(chars[j])) {
                (Some((c1, v1)), Some((c2, v2))) if c1 == ca && c2 == ca && v2 - v1 == delta => {
                    j += 1;
                }
                _ => break,
            }
        }
        if j - i >= 3 {
            let first = chars[i].to_ascii_lowercase();
            let start_guesses: f64 = if matches!(first, 'a' | 'z' | '0' | '1' | '9') {
                4.0
            } else if ca == 0 {
                10.0
            } else {
                26.0
            };
            let direction = if delta < 0 { 2.0 } else { 1.0 };
            let step = if delta.abs() == 2 { 2.0 } else { 1.0 };
            out.push(Match {
                start: i,
                end: j,
                log10: (start_guesses * direction * step * (j - i) as f64).log10(),
            });
            i = j - 1;
        } else {
            i += 1;
        }
    }
}

/// Keyboard layouts as rows of keys; shifted characters are mapped to their key first.
const LAYOUTS: [[&str; 4]; 2] = [
    [
        "1234567890-=",
        "qwertyuiop[]",
        "asdfghjkl;'\\",
        "zxcvbnm,./",
    ],
    ["1234567890)=", "azertyuiop^$", "qsdfghjklmù*", "wxcvbn,;:!"],
];

/// The unshifted key of a US-keyboard shifted character.
fn unshift(c: char) -> char {
    let shifted = "!@#$%^&*()_+{}:\"|<>?~";
    let base = "1234567890-=[];'\\,./`";
    match shifted.find(c) {
        Some(i) => base[i..].chars().next().unwrap_or(c),
        None => c.to_ascii_lowercase(),
    }
}

fn key_position(layout: &[&str; 4], c: char) -> Option<(i32, i32)> {
    let c = unshift(c);
    layout.iter().zip(0i32..).find_map(|(row, r)| {
        row.chars()
            .zip(0i32..)
            .find(|(k, _)| *k == c)
            .map(|(_, col)| (r, col))
    })
}

/// Neighbouring keys: same row next to each other, or the row below (staggered to the
/// right) / above.
fn adjacent(a: (i32, i32), b: (i32, i32)) -> bool {
    let (dr, dc) = (b.0 - a.0, b.1 - a.1);
    match dr {
        0 => dc.abs() == 1,
        1 => dc == 0 || dc == -1,
        -1 => dc == 0 || dc == 1,
        _ => false,
    }
}

fn keyboard_matches(chars: &[char], out: &mut Vec<Match>) {
    let n = chars.len();
    for layout in &LAYOUTS {
        let pos: Vec<Option<(i32, i32)>> = chars.iter().map(|c| key_position(layout, *c)).collect();
        let mut i = 0;
        while i < n {
            let mut j = i + 1;
            let mut turns = 0u32;
            let mut last_dir: Option<(i32, i32)> = None;
            while j < n {
                match (pos[j - 1], pos[j]) {
                    (Some(a), Some(b)) if adjacent(a, b) => {
                        let dir = (b.0 - a.0, b.1 - a.1);
                        if last_dir.is_some_and(|d| d != dir) {
                            turns += 1;
                        }
                        last_dir = Some(dir);
                        j += 1;
                    }
                    _ => break,
                }
            }
            if j - i >= 4 {
                // Start key × length × about 4 choices at each turn.
                let log10 = (47.0 * (j - i) as f64).log10() + f64::from(turns + 1) * 4f64.log10();
                out.push(Match {
                    start: i,
                    end: j,
                    log10,
                });
            }
            i = j;
        }
    }
}

fn year_matches(chars: &[char], out: &mut Vec<Match>) {
    for start in 0..chars.len().saturating_sub(3) {
        let s: String = chars[start..start + 4].iter().collect();
        if let Ok(y) = s.parse::<u32>()
            && (1900..=2099).contains(&y)
        {
            // As zxcvbn: distance from a recent year, at least 20 years' worth.
            let distance = f64::from(y.abs_diff(2020).max(20));
            out.push(Match {
                start,
                end: start + 4,
                log10: distance.log10(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_list_is_bundled_whole() {
        assert_eq!(COMMON_RANKS.len(), 10_000);
        assert_eq!(COMMON_RANKS.get("123456"), Some(&1));
        assert_eq!(COMMON_RANKS.get("password"), Some(&2));
    }

    #[test]
    fn trivial_passwords_score_zero() {
        for pw in [
            "",
            "password",
            "123456789",
            "aaaaaaaaaaaa",
            "abcdefgh",
            "qwertyuiop",
            "P@ssw0rd",
            "drowssap",
            "PASSWORD",
            "monkey",
        ] {
            assert_eq!(password_strength(pw), 0, "{pw}");
        }
    }

    #[test]
    fn predictable_patterns_stay_weak() {
        // A common word with a capital, a year and a symbol meets "complexity rules" yet
        // is among the first things an attacker tries.
        for pw in [
            "Summer2024!",
            "kitten2019",
            "asdfghjkl;",
            "1qaz2wsx3edc",
            "azertyuiop",
            "abcabcabcabc",
            "9876543210",
            "monkeymonkey",
        ] {
            assert!(
                password_strength(pw) <= 1,
                "{pw}: {}",
                password_strength(pw)
            );
        }
    }

    #[test]
    fn random_and_long_passwords_are_strong() {
        for pw in [
            "xK9#mQ2$vL7p",
            "correct horse battery staple",
            "tJ8vq-Wm3z!Lp0",
            "quand les poules auront des dents",
        ] {
            assert_eq!(password_strength(pw), 4, "{pw}");
        }
        // Eight unpredictable characters are fair to good, not very strong.
        let s = password_strength("k8tqzmwp");
        assert!((2..=3).contains(&s), "{s}");
    }

    #[test]
    fn more_of_the_same_does_not_help_much() {
        assert!(password_strength(&"a".repeat(200)) <= 1);
        assert!(password_strength(&"ab".repeat(100)) <= 1);
        // Beyond the analysed prefix, characters still count.
        assert_eq!(
            password_strength(&"Zq7!".repeat(3)),
            password_strength("Zq7!Zq7!Zq7!")
        );
    }

    #[test]
    fn scores_are_monotonic_in_guesses() {
        assert_eq!(score(2.9), 0);
        assert_eq!(score(3.0), 1);
        assert_eq!(score(6.0), 2);
        assert_eq!(score(8.0), 3);
        assert_eq!(score(10.0), 4);
    }

    #[test]
    fn case_variations_count() {
        let w: Vec<char> = "password".chars().collect();
        assert_eq!(case_variations(&w), 0.0);
        let w: Vec<char> = "Password".chars().collect();
        assert!((case_variations(&w) - std::f64::consts::LOG10_2).abs() < 1e-9);
        let w: Vec<char> = "pAsSwOrD".chars().collect();
        assert!(case_variations(&w) > 1.0);
    }

    #[test]
    fn keyboard_adjacency() {
        let qwerty = &LAYOUTS[0];
        let p = |c| key_position(qwerty, c).unwrap_or((-9, -9));
        assert!(adjacent(p('q'), p('w')));
        assert!(adjacent(p('1'), p('q')));
        assert!(adjacent(p('q'), p('a')));
        assert!(adjacent(p('w'), p('a')));
        assert!(adjacent(p('!'), p('q')));
        assert!(!adjacent(p('q'), p('e')));
        assert!(!adjacent(p('q'), p('s')));
    }
}
