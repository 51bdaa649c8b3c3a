//! A byte trie over vocabulary pieces for greedy longest-prefix matching: one walk finds the
//! longest piece at a position, where the reference tries every shorter substring in a hash map.

use std::collections::BTreeMap;

const NONE: u32 = u32::MAX;

/// Pieces of one kind (word-initial, or continuations without their prefix) and their ids.
pub(crate) struct PieceTrie {
    /// Child of the root per first byte.
    root: Box<[u32; 256]>,
    nodes: Vec<Node>,
    /// Children of every node, contiguous per node and sorted by byte.
    edges: Vec<(u8, u32)>,
}

#[derive(Clone, Copy)]
struct Node {
    first_edge: u32,
    edge_count: u32,
    /// Id of the piece ending here, or `NONE`.
    id: u32,
}

impl PieceTrie {
    /// A trie of `(piece, id)`; empty pieces are ignored.
    pub(crate) fn new<'a>(pieces: impl IntoIterator<Item = (&'a str, u32)>) -> Self {
        // Built with ordered maps, then laid out flat.
        let mut children: Vec<BTreeMap<u8, u32>> = vec![BTreeMap::new()];
        let mut ids: Vec<u32> = vec![NONE];
        for (piece, id) in pieces {
            if piece.is_empty() {
                continue;
            }
            let mut node = 0usize;
            for &b in piece.as_bytes() {
                let next = children.len() as u32;
                let child = *children[node].entry(b).or_insert(next);
                if child == next {
                    children.push(BTreeMap::new());
                    ids.push(NONE);
                }
                node = child as usize;
            }
            ids[node] = id;
        }
        let mut root = Box::new([NONE; 256]);
        for (&b, &child) in &children[0] {
            root[b as usize] = child;
        }
        let mut nodes = Vec::with_capacity(children.len());
        let mut edges = Vec::new();
        for (node_children, id) in children.iter().zip(&ids) {
            nodes.push(Node {
                first_edge: edges.len() as u32,
                edge_count: node_children.len() as u32,
                id: *id,
            });
            edges.extend(node_children.iter().map(|(&b, &c)| (b, c)));
        }
        Self { root, nodes, edges }
    }

    /// The id and byte length of the longest piece that `bytes` starts with.
    #[inline]
    pub(crate) fn longest_prefix(&self, bytes: &[u8]) -> Option<(u32, usize)> {
        let mut node = *self.root.get(*bytes.first()? as usize)?;
        let mut best = None;
        let mut depth = 1;
        while node != NONE {
            let n = self.nodes[node as usize];
            if n.id != NONE {
                best = Some((n.id, depth));
            }
            let Some(&b) = bytes.get(depth) else { break };
            node = self.child(n, b);
            depth += 1;
        }
        best
    }

    #[inline]
    fn child(&self, node: Node, byte: u8) -> u32 {
        let edges = &self.edges[node.first_edge as usize..(node.first_edge + node.edge_count) as usize];
        if edges.len() <= 8 {
            edges.iter().find(|(b, _)| *b == byte).map_or(NONE, |e| e.1)
        } else {
            edges.binary_search_by_key(&byte, |e| e.0).map_or(NONE, |i| edges[i].1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_longest_piece() {
        let trie = PieceTrie::new([("un", 1), ("una", 2), ("unaff", 3), ("中", 4), ("", 9)]);
        assert_eq!(trie.longest_prefix(b"unaffable"), Some((3, 5)));
        assert_eq!(trie.longest_prefix(b"unafx"), Some((2, 3)));
        assert_eq!(trie.longest_prefix(b"u"), None);
        assert_eq!(trie.longest_prefix("中文".as_bytes()), Some((4, 3)));
        assert_eq!(trie.longest_prefix(b""), None);
    }
}
