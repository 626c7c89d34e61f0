//! Lists shown in messages, kept short: a hostile or merely huge answer (a base index offering
//! 10,000 platforms) must not turn one error into a 159 kB line. [`short_list`] shows the first
//! few items, each cut to a readable length, and says how many were left out.

/// How many items a message lists before "… and N more".
pub const SHOWN: usize = 10;

/// The longest item shown whole; a longer one is cut and ends with `…`.
const ITEM_CHARS: usize = 60;

/// `items` joined by `, `: at most [`SHOWN`] of them, each at most 60 characters (control
/// characters shown escaped), then `… and N more` when some were left out.
pub fn short_list<S: AsRef<str>>(items: &[S]) -> String {
    let mut shown: Vec<String> = items.iter().take(SHOWN).map(|i| item(i.as_ref())).collect();
    if items.len() > SHOWN {
        shown.push(format!("… and {} more", thousands(items.len() - SHOWN)));
    }
    shown.join(", ")
}

fn item(s: &str) -> String {
    let clean: String = s
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    if clean.chars().count() <= ITEM_CHARS {
        return clean;
    }
    let mut cut: String = clean.chars().take(ITEM_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// `9990` → `9,990`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_cut_and_counted() {
        assert_eq!(short_list(&["a", "b"]), "a, b");
        let many: Vec<String> = (0..10_000).map(|i| format!("linux/p{i}")).collect();
        let s = short_list(&many);
        assert!(s.starts_with("linux/p0, linux/p1, "), "{s}");
        assert!(s.ends_with("linux/p9, … and 9,990 more"), "{s}");
        assert!(s.len() < 200, "{s}");
        let long = short_list(&["x".repeat(10_000)]);
        assert_eq!(long.chars().count(), ITEM_CHARS);
        assert_eq!(short_list(&["a\nb"]), "a\\nb");
        assert_eq!(short_list(&["it's \"x\""]), "it's \"x\"");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
