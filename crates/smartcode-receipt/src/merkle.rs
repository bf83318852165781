//! The Merkle tree of a signing batch over SHA-256, with domain separation: a leaf is
//! `SHA-256(0x00 ‖ message)`, a node `SHA-256(0x01 ‖ left ‖ right)`. The last node of a level with
//! an odd count goes up unchanged, so a batch of one is its own root.

use sha2::{Digest, Sha256};

/// A receipt message's leaf hash.
pub fn leaf_hash(message: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(message);
    hasher.finalize().into()
}

/// The hash of a node over its two children.
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// A whole tree, every level kept, so each leaf's path can be read off it.
pub struct Tree {
    /// `levels[0]` are the leaves; the last level holds the root alone.
    levels: Vec<Vec<[u8; 32]>>,
}

impl Tree {
    /// The tree over `leaves` (in order); `None` for no leaves.
    pub fn build(leaves: Vec<[u8; 32]>) -> Option<Tree> {
        if leaves.is_empty() {
            return None;
        }
        let mut levels = vec![leaves];
        while levels.last().expect("one level at least").len() > 1 {
            let below = levels.last().expect("one level at least");
            let above = below
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => node_hash(left, right),
                    [alone] => *alone,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
            levels.push(above);
        }
        Some(Tree { levels })
    }

    pub fn root(&self) -> [u8; 32] {
        self.levels.last().expect("one level at least")[0]
    }

    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The sibling hashes from leaf `index` up to the root, leaf level first; a level where the
    /// node has no sibling gives none.
    pub fn path(&self, index: usize) -> Vec<[u8; 32]> {
        assert!(index < self.levels[0].len(), "a leaf of this tree");
        let mut path = Vec::with_capacity(self.levels.len());
        let mut at = index;
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(sibling) = level.get(at ^ 1) {
                path.push(*sibling);
            }
            at /= 2;
        }
        path
    }
}

/// The root a leaf's path leads to, for leaf `index` of a batch of `size`; `None` when the path
/// does not fit that place (too short, too long, or an index outside the batch).
pub fn root_from_path(leaf: [u8; 32], index: u64, size: u64, path: &[[u8; 32]]) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let mut hash = leaf;
    let (mut at, mut count) = (index, size);
    let mut siblings = path.iter();
    while count > 1 {
        let has_sibling = (at ^ 1) < count;
        if has_sibling {
            let sibling = siblings.next()?;
            hash = if at % 2 == 0 {
                node_hash(&hash, sibling)
            } else {
                node_hash(sibling, &hash)
            };
        }
        at /= 2;
        count = count.div_ceil(2);
    }
    siblings.next().is_none().then_some(hash)
}
