//! Similar-word tables for MacBERT's "MLM as correction". Two formats are read: Cilin
//! (`CODE word word ...`, where only codes ending in `=` are synonym groups; `#` and `@` lines
//! only add to the lexicon) and a plain `word<TAB>similar1 similar2 ...` table. `#` lines and
//! blank lines are comments in the plain format.

use crate::MaskingError;
use crate::rng::KeyedRng;
use std::collections::{BTreeMap, HashMap};

/// A parsed table: similar words per word, and every word that occurs.
#[derive(Debug, Clone, Default)]
pub struct SynonymTable {
    similar: BTreeMap<String, Vec<String>>,
    lexicon: Vec<String>,
}

fn is_cilin_code(field: &str) -> bool {
    let b = field.as_bytes();
    b.len() == 8
        && b[0].is_ascii_alphabetic()
        && b[1].is_ascii_alphabetic()
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b[4].is_ascii_alphabetic()
        && b[5..7].iter().all(u8::is_ascii_digit)
        && matches!(b[7], b'=' | b'#' | b'@')
}

impl SynonymTable {
    /// Parses either format; the first data line decides which.
    pub fn parse(text: &str) -> Result<Self, MaskingError> {
        let mut table = SynonymTable::default();
        let mut cilin: Option<bool> = None;
        let mut seen = std::collections::BTreeSet::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |message: &str| MaskingError::Synonyms {
                line: i + 1,
                message: message.to_owned(),
            };
            let first = line.split_whitespace().next().unwrap_or_default();
            let is_cilin = *cilin.get_or_insert_with(|| is_cilin_code(first));
            let (heads, group): (Vec<&str>, Vec<&str>) = if is_cilin {
                if !is_cilin_code(first) {
                    return Err(bad("expected a Cilin code like `Aa01A01=`"));
                }
                let words: Vec<&str> = line.split_whitespace().skip(1).collect();
                if first.ends_with('=') {
                    (words.clone(), words)
                } else {
                    (Vec::new(), words)
                }
            } else {
                let (word, rest) = line
                    .split_once('\t')
                    .ok_or_else(|| bad("expected `word<TAB>similar words`"))?;
                let word = word.trim();
                if word.is_empty() {
                    return Err(bad("empty word"));
                }
                let mut group = vec![word];
                group.extend(rest.split_whitespace());
                (vec![word], group)
            };
            for w in &group {
                if seen.insert((*w).to_owned()) {
                    table.lexicon.push((*w).to_owned());
                }
            }
            for head in heads {
                let entry = table.similar.entry(head.to_owned()).or_default();
                for w in &group {
                    if *w != head && !entry.iter().any(|e| e == w) {
                        entry.push((*w).to_owned());
                    }
                }
            }
        }
        Ok(table)
    }

    /// Number of words with similar words.
    pub fn len(&self) -> usize {
        self.similar.len()
    }

    /// Whether no word has similar words.
    pub fn is_empty(&self) -> bool {
        self.similar.is_empty()
    }

    /// The similar words of `word`.
    pub fn similar(&self, word: &str) -> &[String] {
        self.similar.get(word).map_or(&[], Vec::as_slice)
    }
}

/// The table in token ids: candidates per tokenized word, and the lexicon by token length.
#[derive(Debug, Clone, Default)]
pub struct SimilarWords {
    by_word: HashMap<Vec<u32>, Vec<Vec<u32>>>,
    by_length: BTreeMap<usize, Vec<Vec<u32>>>,
    /// Where each lexicon word stands in `by_length` (increasing), so that a draw excluding it
    /// needs no scan of the lexicon.
    positions: HashMap<Vec<u32>, Vec<u32>>,
}

/// Where a similar word came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimilarSource {
    /// A listed similar word of the same token length.
    Table,
    /// No listed candidate: a random lexicon word of the same token length.
    Lexicon,
}

impl SimilarWords {
    /// Tokenizes the table with `tokenize` (which returns `None` for a word with unknown
    /// tokens); only words whose every token is in the vocabulary are kept.
    pub fn build(table: &SynonymTable, tokenize: impl Fn(&str) -> Option<Vec<u32>>) -> Self {
        let ids: HashMap<&str, Vec<u32>> = table
            .lexicon
            .iter()
            .filter_map(|w| tokenize(w).filter(|t| !t.is_empty()).map(|t| (w.as_str(), t)))
            .collect();
        let mut out = SimilarWords::default();
        for (word, similar) in &table.similar {
            let Some(key) = ids.get(word.as_str()) else { continue };
            let candidates: Vec<Vec<u32>> = similar
                .iter()
                .filter_map(|s| ids.get(s.as_str()))
                .filter(|t| *t != key)
                .cloned()
                .collect();
            if !candidates.is_empty() {
                out.by_word.entry(key.clone()).or_default().extend(candidates);
            }
        }
        for word in &table.lexicon {
            if let Some(t) = ids.get(word.as_str()) {
                let same_length = out.by_length.entry(t.len()).or_default();
                out.positions.entry(t.clone()).or_default().push(same_length.len() as u32);
                same_length.push(t.clone());
            }
        }
        out
    }

    /// A similar word of the same token length as `word`, chosen by key: from the table, else a
    /// random lexicon word of that length; `None` when neither exists.
    pub fn pick(&self, word: &[u32], rng: &mut KeyedRng) -> Option<(Vec<u32>, SimilarSource)> {
        let same_length: Vec<&Vec<u32>> = self
            .by_word
            .get(word)
            .map(|c| c.iter().filter(|c| c.len() == word.len()).collect())
            .unwrap_or_default();
        if !same_length.is_empty() {
            return Some((same_length[rng.below(same_length.len())].clone(), SimilarSource::Table));
        }
        // A uniform draw among the lexicon words of this length other than `word`: the index
        // among the others, stepped over `word`'s own places.
        let lexicon = self.by_length.get(&word.len())?;
        let own = self.positions.get(word).map_or(&[][..], Vec::as_slice);
        let others = lexicon.len() - own.len();
        if others == 0 {
            return None;
        }
        let mut index = rng.below(others);
        for &place in own {
            if place as usize <= index {
                index += 1;
            }
        }
        Some((lexicon[index].clone(), SimilarSource::Lexicon))
    }

    /// Number of words with candidates.
    pub fn words(&self) -> usize {
        self.by_word.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cilin_groups_only_for_equals_codes() {
        let t = SynonymTable::parse("Aa01A01= 人 士 人物\nAa01A02# 人类 生人\nAa01A03@ 独自\n").unwrap();
        assert_eq!(t.similar("人"), ["士", "人物"]);
        assert!(t.similar("人类").is_empty());
        assert_eq!(t.lexicon.len(), 6);
    }

    #[test]
    fn plain_table_and_errors_with_lines() {
        let t = SynonymTable::parse("# comment\n美丽\t漂亮 好看\n").unwrap();
        assert_eq!(t.similar("美丽"), ["漂亮", "好看"]);
        assert!(t.similar("漂亮").is_empty(), "plain tables are directed");
        let err = SynonymTable::parse("美丽\t漂亮\nno tab here\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn candidates_keep_the_token_length() {
        let t = SynonymTable::parse("美丽\t漂亮 好看极了 美\n").unwrap();
        let tokenize = |w: &str| Some(w.chars().map(|c| c as u32).collect::<Vec<u32>>());
        let s = SimilarWords::build(&t, tokenize);
        let mut rng = KeyedRng::new(0, crate::Purpose::Mask, 0, 0);
        let word: Vec<u32> = "美丽".chars().map(|c| c as u32).collect();
        for _ in 0..20 {
            let (pick, source) = s.pick(&word, &mut rng).unwrap();
            assert_eq!(pick.len(), 2);
            assert_eq!(source, SimilarSource::Table);
        }
        let unknown: Vec<u32> = "天气".chars().map(|c| c as u32).collect();
        assert_eq!(s.pick(&unknown, &mut rng).map(|p| p.1), Some(SimilarSource::Lexicon));
        assert_eq!(s.pick(&[1, 2, 3, 4, 5], &mut rng), None);
    }

    #[test]
    fn lexicon_draws_skip_the_word_itself_uniformly() {
        // Distinct words with the same ids ("A"/"a" under a lower-casing tokenizer) stand twice.
        let t = SynonymTable::parse("甲\t乙\n丙\t丁 A a 戊\n").unwrap();
        let tokenize = |w: &str| Some(w.to_lowercase().chars().map(|c| c as u32).collect::<Vec<u32>>());
        let s = SimilarWords::build(&t, tokenize);
        let a = vec!['a' as u32];
        let mut rng = KeyedRng::new(5, crate::Purpose::Mask, 0, 0);
        let mut seen = BTreeMap::new();
        for _ in 0..6000 {
            let (pick, source) = s.pick(&a, &mut rng).unwrap();
            assert_eq!(source, SimilarSource::Lexicon);
            assert_ne!(pick, a, "never the word itself");
            *seen.entry(pick).or_insert(0) += 1;
        }
        // 甲 乙 丙 丁 戊: five others, about 1200 draws each.
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert!(seen.values().all(|&n| (1000..1400).contains(&n)), "{seen:?}");
    }
}
