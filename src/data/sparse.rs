//! Data kept sparse from the file until a batch is built: count matrices as
//! compressed rows (one row per sample), so a single-cell matrix takes memory in
//! proportion to its non-zero counts, not cells × genes; sequences as one letter
//! code per position, made one-hot only when a row is written.

/// Samples stored sparse: written densely row by row ([`Sparse::write_row`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Sparse {
    /// Count matrices (10x, sparse AnnData).
    Counts(SparseRows),
    /// One-hot sequences (FASTA/FASTQ).
    Letters(LetterRows),
}

impl Sparse {
    pub fn rows(&self) -> usize {
        match self {
            Sparse::Counts(m) => m.rows(),
            Sparse::Letters(m) => m.rows(),
        }
    }

    /// Row `i` written densely into `out` (length: the columns).
    pub fn write_row(&self, i: usize, out: &mut [f32]) {
        match self {
            Sparse::Counts(m) => m.write_row(i, out),
            Sparse::Letters(m) => m.write_row(i, out),
        }
    }

    /// Every row, densely, row-major.
    pub fn to_dense(&self) -> Vec<f32> {
        let cols = match self {
            Sparse::Counts(m) => m.cols,
            Sparse::Letters(m) => m.cols(),
        };
        let mut out = vec![0.0; self.rows() * cols];
        for (i, row) in out.chunks_mut(cols.max(1)).enumerate() {
            self.write_row(i, row);
        }
        out
    }

    /// Keep the rows `keep`, in that order.
    pub fn take_rows(&self, keep: &[usize]) -> Sparse {
        match self {
            Sparse::Counts(m) => Sparse::Counts(m.take_rows(keep)),
            Sparse::Letters(m) => Sparse::Letters(m.take_rows(keep)),
        }
    }

    /// Number of non-zero values.
    pub fn nonzero(&self) -> usize {
        match self {
            Sparse::Counts(m) => m.data.iter().filter(|&&v| v != 0.0).count(),
            Sparse::Letters(m) => (0..m.rows()).map(|i| m.row_tokens(i)).sum(),
        }
    }
}

/// A letter with no channel of its own (IUPAC `N`, protein `X`): an all-zero column.
pub const UNKNOWN_LETTER: u8 = 254;

/// Sequences as letter codes, one byte per position, read as one-hot rows
/// `[tokens × length]`: a token is a letter (`k` = 1) or the `k` letters from
/// a position read as a number in base `letters`. A position with an unknown
/// letter, or past the end of its sequence, has no token.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LetterRows {
    /// Codes `0..letters` or [`UNKNOWN_LETTER`], sequence after sequence.
    pub codes: Vec<u8>,
    /// Sequence `i` is `codes[starts[i]..starts[i + 1]]`.
    pub starts: Vec<usize>,
    /// Letters in the alphabet.
    pub letters: usize,
    /// Letters per token.
    pub k: usize,
    /// Token positions per row.
    pub length: usize,
}

impl LetterRows {
    pub fn rows(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Columns of a row: tokens × length.
    pub fn cols(&self) -> usize {
        self.letters.pow(self.k as u32) * self.length
    }

    /// Row `i`'s one-hot columns, in position order.
    fn for_each_column(&self, i: usize, mut column: impl FnMut(usize)) {
        let codes = &self.codes[self.starts[i]..self.starts[i + 1]];
        if self.k == 1 {
            for (p, &l) in codes.iter().take(self.length).enumerate() {
                if l < UNKNOWN_LETTER {
                    column(l as usize * self.length + p);
                }
            }
        } else {
            for (p, window) in codes.windows(self.k).take(self.length).enumerate() {
                let token = window.iter().try_fold(0usize, |acc, &l| {
                    (l < UNKNOWN_LETTER).then(|| acc * self.letters + l as usize)
                });
                if let Some(t) = token {
                    column(t * self.length + p);
                }
            }
        }
    }

    /// Row `i` written densely into `out` (length `cols()`).
    pub fn write_row(&self, i: usize, out: &mut [f32]) {
        out.fill(0.0);
        self.for_each_column(i, |c| out[c] = 1.0);
    }

    /// Tokens (non-zero values) in row `i`.
    fn row_tokens(&self, i: usize) -> usize {
        let mut n = 0;
        self.for_each_column(i, |_| n += 1);
        n
    }

    /// Keep the rows `keep`, in that order.
    pub fn take_rows(&self, keep: &[usize]) -> LetterRows {
        let mut out = LetterRows {
            codes: Vec::new(),
            starts: Vec::with_capacity(keep.len() + 1),
            letters: self.letters,
            k: self.k,
            length: self.length,
        };
        out.starts.push(0);
        for &i in keep {
            out.codes
                .extend_from_slice(&self.codes[self.starts[i]..self.starts[i + 1]]);
            out.starts.push(out.codes.len());
        }
        out
    }
}

/// Compressed sparse rows: row `i` holds `data[indptr[i]..indptr[i+1]]` at the
/// columns `indices[..]`, each column at most once per row (matrices read
/// from files are in ascending column order; one-hot sequences in position
/// order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseRows {
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub data: Vec<f32>,
    pub cols: usize,
}

impl SparseRows {
    pub fn rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    pub fn nnz(&self) -> usize {
        self.data.len()
    }

    /// The stored columns and values of row `i`.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.data[a..b])
    }

    /// Row `i` written densely into `out` (length `cols`).
    pub fn write_row(&self, i: usize, out: &mut [f32]) {
        out.fill(0.0);
        let (idx, val) = self.row(i);
        for (&c, &v) in idx.iter().zip(val) {
            out[c as usize] = v;
        }
    }

    /// Keep the rows `keep`, in that order.
    pub fn take_rows(&self, keep: &[usize]) -> SparseRows {
        let mut out = SparseRows {
            indptr: Vec::with_capacity(keep.len() + 1),
            cols: self.cols,
            ..SparseRows::default()
        };
        out.indptr.push(0);
        for &i in keep {
            let (idx, val) = self.row(i);
            out.indices.extend_from_slice(idx);
            out.data.extend_from_slice(val);
            out.indptr.push(out.data.len());
        }
        out
    }

    /// Keep the columns `cols` (each an old column, in the new order); a
    /// column given as `None` is all zeros.
    pub fn take_columns(&self, cols: &[Option<usize>]) -> SparseRows {
        let mut new_of = vec![u32::MAX; self.cols];
        for (new, old) in cols.iter().enumerate() {
            if let Some(old) = old {
                new_of[*old] = new as u32;
            }
        }
        let mut out = SparseRows {
            indptr: Vec::with_capacity(self.indptr.len()),
            cols: cols.len(),
            ..SparseRows::default()
        };
        out.indptr.push(0);
        let mut row: Vec<(u32, f32)> = Vec::new();
        for i in 0..self.rows() {
            let (idx, val) = self.row(i);
            row.clear();
            row.extend(
                idx.iter()
                    .zip(val)
                    .filter(|(c, _)| new_of[**c as usize] != u32::MAX)
                    .map(|(c, v)| (new_of[*c as usize], *v)),
            );
            row.sort_unstable_by_key(|e| e.0);
            out.indices.extend(row.iter().map(|e| e.0));
            out.data.extend(row.iter().map(|e| e.1));
            out.indptr.push(out.data.len());
        }
        out
    }
}

/// Collects `(row, column, value)` entries as they are read. Entries in row
/// order (as 10x writes them: cell by cell) go straight into compressed rows;
/// the first entry out of order switches to collecting triplets.
pub struct RowBuilder {
    rows: usize,
    m: SparseRows,
    triplets: Option<Vec<(u32, u32, f32)>>,
}

impl RowBuilder {
    pub fn new(rows: usize, cols: usize, expected_entries: usize) -> RowBuilder {
        let cap = expected_entries.min(1 << 26);
        RowBuilder {
            rows,
            m: SparseRows {
                indptr: vec![0],
                indices: Vec::with_capacity(cap),
                data: Vec::with_capacity(cap),
                cols,
            },
            triplets: None,
        }
    }

    /// Add one entry (`row < rows`, `col < cols`, checked by the caller).
    pub fn push(&mut self, row: usize, col: usize, value: f32) {
        if let Some(t) = &mut self.triplets {
            t.push((row as u32, col as u32, value));
            return;
        }
        let current = self.m.indptr.len() - 1;
        if row < current {
            // Out of row order: keep what was read as triplets from here on.
            let mut t = Vec::with_capacity(self.m.data.capacity());
            for r in 0..current {
                let (a, b) = (self.m.indptr[r], self.m.indptr[r + 1]);
                for k in a..b {
                    t.push((r as u32, self.m.indices[k], self.m.data[k]));
                }
            }
            let open = *self.m.indptr.last().expect("indptr starts with 0");
            for k in open..self.m.data.len() {
                t.push((current as u32, self.m.indices[k], self.m.data[k]));
            }
            t.push((row as u32, col as u32, value));
            self.m = SparseRows {
                cols: self.m.cols,
                ..SparseRows::default()
            };
            self.triplets = Some(t);
            return;
        }
        while self.m.indptr.len() - 1 < row {
            self.m.indptr.push(self.m.data.len());
        }
        self.m.indices.push(col as u32);
        self.m.data.push(value);
    }

    pub fn finish(mut self) -> SparseRows {
        if let Some(t) = self.triplets {
            return from_triplets(self.rows, self.m.cols, &t);
        }
        while self.m.indptr.len() < self.rows + 1 {
            self.m.indptr.push(self.m.data.len());
        }
        self.m.indices.shrink_to_fit();
        self.m.data.shrink_to_fit();
        self.m.sort_rows();
        self.m
    }
}

/// Build compressed rows from a row-major stream of `(row, col, value)`
/// entries in any order: counts per row first, then placement.
pub fn from_triplets(rows: usize, cols: usize, entries: &[(u32, u32, f32)]) -> SparseRows {
    let mut indptr = vec![0usize; rows + 1];
    for &(r, _, _) in entries {
        indptr[r as usize + 1] += 1;
    }
    for i in 0..rows {
        indptr[i + 1] += indptr[i];
    }
    let mut next = indptr.clone();
    let mut indices = vec![0u32; entries.len()];
    let mut data = vec![0f32; entries.len()];
    for &(r, c, v) in entries {
        let k = next[r as usize];
        indices[k] = c;
        data[k] = v;
        next[r as usize] += 1;
    }
    let mut m = SparseRows {
        indptr,
        indices,
        data,
        cols,
    };
    m.sort_rows();
    m
}

impl SparseRows {
    /// Order each row's entries by column (files list them in any order) and
    /// add up entries given twice for the same place.
    pub fn sort_rows(&mut self) {
        self.sort_only();
        if (0..self.rows()).all(|i| {
            self.indices[self.indptr[i]..self.indptr[i + 1]]
                .windows(2)
                .all(|w| w[0] < w[1])
        }) {
            return;
        }
        let mut indptr = Vec::with_capacity(self.indptr.len());
        indptr.push(0);
        let (mut indices, mut data) = (Vec::new(), Vec::new());
        for i in 0..self.rows() {
            let (idx, val) = self.row(i);
            for (&c, &v) in idx.iter().zip(val) {
                if indices.len() > indptr[i] && indices.last() == Some(&c) {
                    *data.last_mut().expect("an entry was pushed") += v;
                } else {
                    indices.push(c);
                    data.push(v);
                }
            }
            indptr.push(data.len());
        }
        (self.indptr, self.indices, self.data) = (indptr, indices, data);
    }

    fn sort_only(&mut self) {
        for i in 0..self.rows() {
            let (a, b) = (self.indptr[i], self.indptr[i + 1]);
            if self.indices[a..b].is_sorted() {
                continue;
            }
            let mut pairs: Vec<(u32, f32)> = self.indices[a..b]
                .iter()
                .copied()
                .zip(self.data[a..b].iter().copied())
                .collect();
            pairs.sort_unstable_by_key(|p| p.0);
            for (k, (c, v)) in pairs.into_iter().enumerate() {
                self.indices[a + k] = c;
                self.data[a + k] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense(m: &SparseRows) -> Vec<f32> {
        Sparse::Counts(m.clone()).to_dense()
    }

    #[test]
    fn rows_columns_and_dense_agree() {
        // [[0, 2, 0], [1, 0, 3]] from entries in file order (by column).
        let m = from_triplets(2, 3, &[(1, 0, 1.0), (0, 1, 2.0), (1, 2, 3.0)]);
        assert_eq!(dense(&m), [0.0, 2.0, 0.0, 1.0, 0.0, 3.0]);
        assert_eq!(dense(&m.take_rows(&[1])), [1.0, 0.0, 3.0]);
        let t = m.take_columns(&[Some(2), None, Some(0)]);
        assert_eq!(dense(&t), [0.0, 0.0, 0.0, 3.0, 0.0, 1.0]);
        assert_eq!(m.nnz(), 3);
        // The same place twice is added up.
        let d = from_triplets(1, 2, &[(0, 1, 2.0), (0, 0, 1.0), (0, 1, 5.0)]);
        assert_eq!((dense(&d), d.nnz()), (vec![1.0, 7.0], 2));
    }

    #[test]
    fn letter_codes_read_as_one_hot_rows() {
        // "ACN" and "GT" over ACGT, 3 positions.
        let m = LetterRows {
            codes: vec![0, 1, UNKNOWN_LETTER, 2, 3],
            starts: vec![0, 3, 5],
            letters: 4,
            k: 1,
            length: 3,
        };
        let one_hot = |cells: &[(usize, usize)]| {
            let mut row = vec![0.0; 12];
            cells.iter().for_each(|&(l, p)| row[l * 3 + p] = 1.0);
            row
        };
        let rows = Sparse::Letters(m.clone());
        let dense = rows.to_dense();
        assert_eq!(dense[..12], one_hot(&[(0, 0), (1, 1)]), "N has no channel");
        assert_eq!(
            dense[12..],
            one_hot(&[(2, 0), (3, 1)]),
            "past the end: none"
        );
        assert_eq!(rows.nonzero(), 4);
        assert_eq!(
            rows.take_rows(&[1, 0]).to_dense(),
            [&dense[12..], &dense[..12]].concat()
        );
        // 2-mers over the same codes: AC at 0 (token 1); CN is none; GT at 0 (token 11).
        let pairs = Sparse::Letters(LetterRows {
            k: 2,
            length: 2,
            ..m
        });
        let dense = pairs.to_dense();
        let ones: Vec<usize> = (0..dense.len()).filter(|&i| dense[i] == 1.0).collect();
        let column = |token: usize, position: usize| token * 2 + position;
        assert_eq!(ones, [column(1, 0), 32 + column(11, 0)]);
    }

    #[test]
    fn the_builder_gives_the_same_rows_in_order_or_not() {
        let entries = [(0, 1, 2.0), (2, 0, 1.0), (2, 2, 3.0), (3, 1, 4.0)];
        let mut b = RowBuilder::new(5, 3, 4);
        entries.iter().for_each(|&(r, c, v)| b.push(r, c, v));
        let in_order = b.finish();
        assert_eq!(in_order.indptr, [0, 1, 1, 3, 4, 4]);
        let mut b = RowBuilder::new(5, 3, 4);
        for &(r, c, v) in entries.iter().rev() {
            b.push(r, c, v);
        }
        assert_eq!(b.finish(), in_order);
        // Out of order after some rows were closed.
        let mut b = RowBuilder::new(5, 3, 4);
        for i in [1, 3, 0, 2] {
            let (r, c, v) = entries[i];
            b.push(r, c, v);
        }
        assert_eq!(b.finish(), in_order);
    }
}
