//! The ceiling on any matcher: when pairs fall into groups a matcher cannot tell apart (the
//! same comparison levels, the same commonness of names), the best it can do is list a group
//! whole or not at all. Listing groups by their share of one-person pairs, highest first,
//! traces the best recall at every precision. Counted on the very pairs it scores, the ceiling
//! flatters (a group of one pair is never wrong), so a real matcher only does worse: what the
//! ceiling cannot reach, no matcher working from those groups can.

/// Pairs a matcher cannot tell apart: how many are one person recorded twice, how many two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Indistinct {
    pub one_person: usize,
    pub two_people: usize,
}

/// The best lists of [`ceiling`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ceiling {
    /// The list of the best F1: its F1, recall and precision, and how many groups it lists
    /// (the first of the sorted groups).
    pub f1: f64,
    pub recall: f64,
    pub precision: f64,
    pub groups_listed: usize,
    /// The best recall of a list of precision at least [`TARGET`] (0 when none reaches it).
    pub recall_at_target_precision: f64,
    /// The best precision of a list of recall at least [`TARGET`] (0 when none reaches it).
    pub precision_at_target_recall: f64,
}

/// The recall and precision a list is held to.
pub const TARGET: f64 = 0.99;

/// Sorts `groups` by their share of one-person pairs, highest first, and measures the lists
/// of their first groups against `true_pairs`, every pair of one person's records (those in
/// no group are missed by every list).
pub fn ceiling<G>(groups: &mut [G], of: impl Fn(&G) -> Indistinct, true_pairs: usize) -> Ceiling {
    // x before y when x.one/x.all > y.one/y.all, in integers.
    groups.sort_by(|x, y| {
        let (x, y) = (of(x), of(y));
        (y.one_person * (x.one_person + x.two_people))
            .cmp(&(x.one_person * (y.one_person + y.two_people)))
    });
    let mut best = Ceiling::default();
    let (mut found, mut listed) = (0usize, 0usize);
    for (k, group) in groups.iter().enumerate() {
        let g = of(group);
        found += g.one_person;
        listed += g.one_person + g.two_people;
        let recall = found as f64 / true_pairs.max(1) as f64;
        let precision = found as f64 / listed.max(1) as f64;
        let f1 = if found == 0 {
            0.0
        } else {
            2.0 * recall * precision / (recall + precision)
        };
        if f1 > best.f1 {
            (best.f1, best.recall, best.precision) = (f1, recall, precision);
            best.groups_listed = k + 1;
        }
        if precision >= TARGET {
            best.recall_at_target_precision = recall;
        }
        if recall >= TARGET && best.precision_at_target_recall == 0.0 {
            best.precision_at_target_recall = precision;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(one_person: usize, two_people: usize) -> Indistinct {
        Indistinct {
            one_person,
            two_people,
        }
    }

    #[test]
    fn groups_are_listed_by_their_share_of_one_person_pairs() {
        let mut groups = vec![group(0, 10), group(5, 5), group(10, 0)];
        let c = ceiling(&mut groups, |g| *g, 15);
        assert_eq!(groups, vec![group(10, 0), group(5, 5), group(0, 10)]);
        // The first two groups: recall 15/15, precision 15/20, F1 6/7.
        assert_eq!(c.groups_listed, 2);
        assert!((c.f1 - 6.0 / 7.0).abs() < 1e-12, "{c:?}");
        assert_eq!((c.recall, c.precision), (1.0, 0.75));
        assert!((c.recall_at_target_precision - 10.0 / 15.0).abs() < 1e-12);
        assert_eq!(c.precision_at_target_recall, 0.75);
    }

    #[test]
    fn a_true_pair_in_no_group_is_missed_by_every_list() {
        let mut groups = vec![group(99, 0)];
        let c = ceiling(&mut groups, |g| *g, 100);
        assert_eq!((c.recall, c.precision), (0.99, 1.0));
        assert_eq!(c.recall_at_target_precision, 0.99);
        let c = ceiling(&mut groups, |g| *g, 101);
        assert_eq!(
            c.precision_at_target_recall, 0.0,
            "no list reaches recall 0.99"
        );
    }

    #[test]
    fn groups_of_two_people_only_are_never_worth_listing() {
        let mut groups = vec![group(0, 3), group(4, 1)];
        let c = ceiling(&mut groups, |g| *g, 4);
        assert_eq!(c.groups_listed, 1);
        assert_eq!((c.recall, c.precision), (1.0, 0.8));
    }
}
