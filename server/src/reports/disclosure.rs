//! Disclosure control for figures that leave the agency network.
//!
//! [`publish`] is what every public figure goes through: first the **cell-key perturbation**
//! ([`super::cellkey`]): each count, total and answer count is replaced by its published
//! value, a deterministic function of its exact count and of the keys of the units in it. The
//! table guarantees that no published value is between 1 and the server's threshold − 1 and
//! that the same units always get the same noise, whatever the request; so the difference of
//! two published figures always carries noise, and no small count is ever published.
//!
//! Then [`protect`], on the *published* values, for a request that raised the threshold above
//! the server's: **primary suppression** hides every published count from 1 to
//! `threshold − 1`; **secondary suppression** makes sure no hidden cell can be recomputed from
//! a published sum: for every line of the table (a row with its row total, a column with its
//! column total, the margins with the grand total; [`super::table::Table::lines`]), if exactly
//! one member of the line is hidden, one more is hidden (the smallest non-zero published part,
//! else the smallest zero part, else the total), until no line has exactly one hidden member.
//! Ties go to the earliest row, so the same values always hide the same way. At the server's
//! own threshold there is nothing left to hide: perturbation has already moved every small
//! count to 0 or to the threshold. Hiding depends only on published values, never on exact
//! ones, so what is hidden says nothing the published values do not.
//!
//! What [`protect`] guarantees on any table (checked by a property test on random tables): no
//! published count is between 1 and `threshold − 1`, and every line has either no hidden
//! member or at least two.

use super::cellkey::PerturbationTable;
use super::table::{Cell, CellRef, Suppression, Table};

/// Makes a table fit to leave the network: cell-key perturbation of every count
/// ([`PerturbationTable::publish`]), then [`protect`] at `threshold` (at least the table's).
/// A referral pair's median answer time is published only beside a published answer count of
/// at least `threshold`.
pub fn publish(table: &mut Table, perturbation: &PerturbationTable, threshold: u64) {
    for at in table.all_cells() {
        if let Some(cell) = table.cell_mut(at) {
            perturb(cell, perturbation);
        }
    }
    for row in &mut table.rows {
        if let Some(answered) = &mut row.answered {
            perturb(answered, perturbation);
        }
    }
    rank_by_published(table);
    protect(table, threshold.max(perturbation.threshold()));
}

/// Tables whose rows are listed largest first list them by *published* count: an order by
/// exact counts would tell which of two rows published alike is larger, or that a row shown as
/// zero holds people. (Which rows make a top-N list is still decided on exact counts; the
/// folded `other` row stays last.)
fn rank_by_published(table: &mut Table) {
    if !super::engine::RANKED_TABLES.contains(&table.id) {
        return;
    }
    let other = table
        .rows
        .iter()
        .position(|r| r.key.first().map(String::as_str) == Some("other"))
        .map(|i| table.rows.remove(i));
    table.rows.sort_by(|a, b| {
        let count = |r: &super::table::Row| r.cells.first().and_then(|c| c.count).unwrap_or(0);
        count(b).cmp(&count(a)).then_with(|| a.key.cmp(&b.key))
    });
    table.rows.extend(other);
}

/// Replaces an exact count by its published value.
pub fn perturb(cell: &mut Cell, perturbation: &PerturbationTable) {
    if let Some(n) = cell.count {
        cell.count = Some(perturbation.publish(n, cell.key));
    }
}

/// Hides small counts and what would reveal them (see the module docs). Median times are
/// hidden with the answer count they are over.
pub fn protect(table: &mut Table, threshold: u64) {
    let cells = table.all_cells();
    for at in &cells {
        if let Some(cell) = table.cell_mut(*at) {
            let v = cell.value();
            if v > 0 && v < threshold {
                cell.suppressed = Some(Suppression::Primary);
            }
        }
    }
    let lines = table.lines();
    loop {
        let mut changed = false;
        for line in &lines {
            let members: Vec<CellRef> = line
                .parts
                .iter()
                .copied()
                .chain(std::iter::once(line.total))
                .collect();
            let hidden = members
                .iter()
                .filter(|m| table.cell(**m).is_some_and(|c| c.suppressed.is_some()))
                .count();
            if hidden != 1 {
                continue;
            }
            let published = |m: &&CellRef| table.cell(**m).is_some_and(|c| c.suppressed.is_none());
            let smallest = |nonzero: bool| {
                line.parts
                    .iter()
                    .filter(published)
                    .filter(|m| (table.cell(**m).map(|c| c.value()).unwrap_or(0) > 0) == nonzero)
                    .min_by_key(|m| table.cell(**m).map(|c| c.value()).unwrap_or(0))
                    .copied()
            };
            let pick = smallest(true).or_else(|| smallest(false)).or_else(|| {
                Some(line.total).filter(|t| table.cell(*t).is_some_and(|c| c.suppressed.is_none()))
            });
            if let Some(at) = pick {
                if let Some(cell) = table.cell_mut(at) {
                    cell.suppressed = Some(Suppression::Secondary);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    for at in cells {
        if let Some(cell) = table.cell_mut(at) {
            if cell.suppressed.is_some() {
                cell.count = None;
            }
        }
    }
    for row in &mut table.rows {
        if let Some(answered) = &mut row.answered {
            let v = answered.value();
            if answered.suppressed.is_none() && v > 0 && v < threshold {
                answered.suppressed = Some(Suppression::Primary);
                answered.count = None;
            }
            // A published zero may be a small count moved down: no median beside it either.
            if answered.suppressed.is_some() || answered.value() == 0 {
                row.median_hours_to_answer = Some(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::cellkey::CellKey;
    use crate::reports::table::Row;
    use proptest::prelude::*;

    fn one_way(counts: &[u64], additive_total: Option<u64>) -> Table {
        Table {
            id: "t",
            title: "t",
            unit: "individuals",
            row_dimensions: vec!["x"],
            column_dimension: None,
            columns: vec!["count".into()],
            rows: counts
                .iter()
                .enumerate()
                .map(|(i, c)| Row {
                    key: vec![i.to_string()],
                    label: None,
                    cells: vec![Cell::new(*c)],
                    total: None,
                    median_hours_to_answer: None,
                    answered: None,
                })
                .collect(),
            column_totals: None,
            total: Some(Cell::new(
                additive_total.unwrap_or_else(|| counts.iter().sum()),
            )),
            additive: true,
            note: None,
        }
    }

    fn two_way(grid: &[Vec<u64>]) -> Table {
        let cols = grid.first().map(|r| r.len()).unwrap_or(0);
        let col_totals: Vec<Cell> = (0..cols)
            .map(|j| Cell::new(grid.iter().map(|r| r[j]).sum()))
            .collect();
        Table {
            id: "t",
            title: "t",
            unit: "individuals",
            row_dimensions: vec!["x"],
            column_dimension: Some("y"),
            columns: (0..cols).map(|j| j.to_string()).collect(),
            rows: grid
                .iter()
                .enumerate()
                .map(|(i, r)| Row {
                    key: vec![i.to_string()],
                    label: None,
                    cells: r.iter().map(|c| Cell::new(*c)).collect(),
                    total: Some(Cell::new(r.iter().sum())),
                    median_hours_to_answer: None,
                    answered: None,
                })
                .collect(),
            column_totals: Some(col_totals),
            total: Some(Cell::new(grid.iter().flatten().sum())),
            additive: true,
            note: None,
        }
    }

    /// The two properties the module promises.
    fn check(original: &Table, protected: &Table, threshold: u64) -> Result<(), TestCaseError> {
        for at in protected.all_cells() {
            let cell = protected.cell(at).unwrap();
            if let Some(v) = cell.count {
                prop_assert!(v == 0 || v >= threshold, "published {v} at {at:?}");
                prop_assert_eq!(Some(v), original.cell(at).unwrap().count);
            } else {
                prop_assert!(cell.suppressed.is_some());
            }
        }
        for line in protected.lines() {
            let hidden = line
                .parts
                .iter()
                .chain(std::iter::once(&line.total))
                .filter(|m| protected.cell(**m).unwrap().count.is_none())
                .count();
            prop_assert!(hidden != 1, "line {line:?} has exactly one hidden member");
        }
        Ok(())
    }

    #[test]
    fn a_lone_small_cell_takes_the_next_smallest_with_it() {
        let mut t = one_way(&[40, 3, 12, 9, 0], None);
        protect(&mut t, 5);
        let counts: Vec<Option<u64>> = t.rows.iter().map(|r| r.cells[0].count).collect();
        assert_eq!(counts, vec![Some(40), None, Some(12), None, Some(0)]);
        assert_eq!(t.rows[3].cells[0].suppressed, Some(Suppression::Secondary));
        assert_eq!(t.total.unwrap().count, Some(64));
    }

    #[test]
    fn a_small_total_is_hidden_with_everything_that_would_give_it() {
        let mut t = one_way(&[2, 1, 0], None);
        protect(&mut t, 5);
        assert!(t.all_cells().iter().all(|c| {
            let cell = t.cell(*c).unwrap();
            cell.count.is_none() || cell.count == Some(0)
        }));
    }

    #[test]
    fn two_way_suppression_is_stable_in_rows_and_columns() {
        let original = two_way(&[vec![20, 3, 30], vec![25, 40, 8], vec![11, 14, 50]]);
        let mut t = original.clone();
        protect(&mut t, 5);
        check(&original, &t, 5).unwrap();
        assert_eq!(t.rows[0].cells[1].suppressed, Some(Suppression::Primary));
    }

    fn keyed(counts: &[u64], seed: u32) -> Table {
        let mut t = one_way(counts, None);
        for (i, row) in t.rows.iter_mut().enumerate() {
            row.cells[0].key = CellKey((i as u32 + 1).wrapping_mul(2_654_435_761) ^ seed);
        }
        t
    }

    #[test]
    fn published_tables_show_no_small_count_and_rank_by_published_value() {
        let perturbation = PerturbationTable::new(5);
        for seed in 0..200u32 {
            let mut t = keyed(&[40, 3, 12, 9, 0, 1], seed.wrapping_mul(40_503));
            t.id = "by_nationality";
            t.rows.push(Row {
                key: vec!["other".into()],
                label: None,
                cells: vec![Cell::new(50)],
                total: None,
                median_hours_to_answer: None,
                answered: None,
            });
            publish(&mut t, &perturbation, 5);
            let shown: Vec<u64> = t.rows.iter().map(|r| r.cells[0].count.unwrap()).collect();
            assert!(shown.iter().all(|v| *v == 0 || *v >= 5), "{shown:?}");
            assert_eq!(t.rows.last().unwrap().key, vec!["other".to_owned()]);
            let ranked = &shown[..shown.len() - 1];
            assert!(ranked.windows(2).all(|w| w[0] >= w[1]), "{shown:?}");
            let zero = t
                .rows
                .iter()
                .find(|r| r.key == vec!["4".to_owned()])
                .unwrap();
            assert_eq!(zero.cells[0].count, Some(0), "zero stays zero");
        }
    }

    #[test]
    fn a_median_is_not_published_beside_a_zero() {
        let perturbation = PerturbationTable::new(5);
        let mut hidden = 0;
        for key in 0..50u32 {
            let mut t = one_way(&[3], None);
            t.rows[0].answered = Some(Cell::keyed(3, CellKey(key.wrapping_mul(85_899_345))));
            t.rows[0].median_hours_to_answer = Some(Some(2.5));
            publish(&mut t, &perturbation, 5);
            let answered = t.rows[0].answered.unwrap().count.unwrap();
            assert!(answered == 0 || answered == 5);
            if answered == 0 {
                assert_eq!(t.rows[0].median_hours_to_answer, Some(None));
                hidden += 1;
            } else {
                assert_eq!(t.rows[0].median_hours_to_answer, Some(Some(2.5)));
            }
        }
        assert!(hidden > 0 && hidden < 50, "both outcomes drawn: {hidden}");
    }

    proptest! {
        #[test]
        fn one_way_tables_never_reveal_a_small_count(
            counts in proptest::collection::vec(0u64..30, 1..12),
            threshold in 2u64..12,
        ) {
            let original = one_way(&counts, None);
            let mut t = original.clone();
            protect(&mut t, threshold);
            check(&original, &t, threshold)?;
        }

        #[test]
        fn two_way_tables_never_reveal_a_small_count(
            grid in (1usize..6, 1usize..6).prop_flat_map(|(r, c)| {
                proptest::collection::vec(proptest::collection::vec(0u64..25, c), r)
            }),
            threshold in 2u64..12,
        ) {
            let original = two_way(&grid);
            let mut t = original.clone();
            protect(&mut t, threshold);
            check(&original, &t, threshold)?;
        }
    }
}
