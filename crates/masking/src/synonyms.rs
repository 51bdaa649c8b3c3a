//! Similar-word tables for MacBERT's "MLM as correction". Two formats are read: Cilin
//! (`CODE word word ...`, where only codes ending in `=` are synonym groups; `#` and `@` lines
//! only add to the lexicon) and a plain `word<TAB>similar1 similar2 ...` table. `#` lines and
//! blank lines are comments in the plain format.

use crate::MaskingError;
use crate::rng::KeyedRng;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, HashMap};

/// A parsed table: every word that occurs (the lexicon, in order of first appearance), and the
/// similar words of each word, as indices into the lexicon.
#[derive(Debug, Clone, Default)]
pub struct SynonymTable {
    lexicon: Vec<String>,
    /// Per lexicon word: its similar words, in order of appearance, without repeats.
    similar: Vec<Vec<u32>>,
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
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut group: Vec<u32> = Vec::new();
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
            let (words, heads): (Vec<&str>, usize) = if is_cilin {
                if !is_cilin_code(first) {
                    return Err(bad("expected a Cilin code like `Aa01A01=`"));
                }
                let words: Vec<&str> = line.split_whitespace().skip(1).collect();
                // Only `=` groups are synonyms; every word of the group is a head.
                let heads = if first.ends_with('=') { words.len() } else { 0 };
                (words, heads)
            } else {
                let (word, rest) = line
                    .split_once('\t')
                    .ok_or_else(|| bad("expected `word<TAB>similar words`"))?;
                let word = word.trim();
                if word.is_empty() {
                    return Err(bad("empty word"));
                }
                // Plain tables are directed: only the first word is a head.
                (std::iter::once(word).chain(rest.split_whitespace()).collect(), 1)
            };
            group.clear();
            for w in &words {
                let next = table.lexicon.len() as u32;
                let id = *index.entry(w).or_insert(next);
                if id == next {
                    table.lexicon.push((*w).to_owned());
                    table.similar.push(Vec::new());
                }
                group.push(id);
            }
            for &head in group.iter().take(heads) {
                let entry = &mut table.similar[head as usize];
                for &w in &group {
                    // A word is not its own similar word, and is listed once.
                    if w != head && !entry.contains(&w) {
                        entry.push(w);
                    }
                }
            }
        }
        Ok(table)
    }

    /// Number of words with similar words.
    pub fn len(&self) -> usize {
        self.similar.iter().filter(|s| !s.is_empty()).count()
    }

    /// Whether no word has similar words.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every word of the table, in order of first appearance.
    pub fn lexicon(&self) -> &[String] {
        &self.lexicon
    }

    /// The similar words of `word`.
    pub fn similar(&self, word: &str) -> Vec<&str> {
        let Some(i) = self.lexicon.iter().position(|w| w == word) else {
            return Vec::new();
        };
        self.similar[i]
            .iter()
            .map(|&j| self.lexicon[j as usize].as_str())
            .collect()
    }
}

/// The table in token ids: candidates per tokenized word, and the lexicon by token length.
#[derive(Debug, Clone, Default)]
pub struct SimilarWords {
    /// Token ids of every lexicon word the tokenizer can encode, in lexicon order.
    words: Vec<Vec<u32>>,
    /// Per tokenized word: its candidates and its places in `by_length`.
    entries: FxHashMap<Vec<u32>, Entry>,
    /// Per token length: the words of that length (indices into `words`), in lexicon order.
    by_length: BTreeMap<usize, Vec<u32>>,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    /// Similar words (indices into `words`), heads in spelling order, then listing order.
    candidates: Vec<u32>,
    /// Where this word stands in `by_length` (increasing), so that a draw excluding it needs
    /// no scan of the lexicon.
    places: Vec<u32>,
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
        let ids = table.lexicon.iter().map(|w| tokenize(w)).collect();
        Self::from_ids(table, ids)
    }

    /// Like [`build`](Self::build), from the ids of every [`SynonymTable::lexicon`] word
    /// (tokenized by the caller, in parallel for example).
    pub fn from_ids(table: &SynonymTable, ids: Vec<Option<Vec<u32>>>) -> Self {
        assert_eq!(ids.len(), table.lexicon.len(), "one entry per lexicon word");
        let mut out = SimilarWords::default();
        // Lexicon index -> index into `words`, for the words the tokenizer can encode.
        let mut usable = vec![u32::MAX; ids.len()];
        for (i, t) in ids.into_iter().enumerate() {
            if let Some(t) = t.filter(|t| !t.is_empty()) {
                usable[i] = out.words.len() as u32;
                out.words.push(t);
            }
        }
        for (w, t) in out.words.iter().enumerate() {
            let same_length = out.by_length.entry(t.len()).or_default();
            let entry = out.entries.entry(t.clone()).or_default();
            entry.places.push(same_length.len() as u32);
            same_length.push(w as u32);
        }
        // Heads in the order of their spelling, so that heads with the same ids (case or width
        // variants) join their candidates in a fixed order.
        let mut heads: Vec<usize> = (0..table.lexicon.len())
            .filter(|&h| usable[h] != u32::MAX && !table.similar[h].is_empty())
            .collect();
        heads.sort_unstable_by(|&a, &b| table.lexicon[a].cmp(&table.lexicon[b]));
        for head in heads {
            let key = &out.words[usable[head] as usize];
            let candidates: Vec<u32> = table.similar[head]
                .iter()
                .map(|&s| usable[s as usize])
                .filter(|&s| s != u32::MAX && out.words[s as usize] != *key)
                .collect();
            if let Some(entry) = out.entries.get_mut(key) {
                entry.candidates.extend(candidates);
            }
        }
        out
    }

    /// A similar word of the same token length as `word`, chosen by key: from the table, else a
    /// random lexicon word of that length; `None` when neither exists.
    pub fn pick(&self, word: &[u32], rng: &mut KeyedRng) -> Option<(&[u32], SimilarSource)> {
        let entry = self.entries.get(word);
        let candidates = entry.map_or(&[][..], |e| e.candidates.as_slice());
        let same_length = |&&c: &&u32| self.words[c as usize].len() == word.len();
        let listed = candidates.iter().filter(same_length).count();
        if listed > 0 {
            let chosen = candidates.iter().filter(same_length).nth(rng.below(listed))?;
            return Some((&self.words[*chosen as usize], SimilarSource::Table));
        }
        // A uniform draw among the lexicon words of this length other than `word`: the index
        // among the others, stepped over `word`'s own places.
        let lexicon = self.by_length.get(&word.len())?;
        let own = entry.map_or(&[][..], |e| e.places.as_slice());
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
        Some((&self.words[lexicon[index] as usize], SimilarSource::Lexicon))
    }

    /// Number of words with candidates.
    pub fn words(&self) -> usize {
        self.entries.values().filter(|e| !e.candidates.is_empty()).count()
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
