//! Noisy bisection of a series: which patch first makes a failure (of one signature) appear.
//!
//! A pure, deterministic state machine. The executor asks [`Bisection::next`] what to test, runs
//! those prefixes, and feeds each outcome back with [`Bisection::observe`]; nothing here sleeps,
//! spawns or reads a file.
//!
//! # Model
//! Prefix 0 is the base, prefix k is base + patches 1..=k. The hypotheses are the culprit
//! `c ∈ 0..=n`: prefixes `k >= c` are bad, prefixes `k < c` good (`c = 0`: the base already fails,
//! so the failure is not the series'). A bad prefix fails with the reproduction rate `p`; a good
//! one fails with the same signature only by a small false-positive rate. `p` is not known: the
//! state is a joint posterior over `(c, p)` on a grid of rates, with a prior that gives half its
//! weight to `p = 1` (deterministic bugs are the common case) and spreads the rest over
//! 0.05..0.95. Every pass and fail updates both, so the rate is estimated from the same runs.
//!
//! Prefixes that cannot be tested (they do not build or boot) are skipped as `git bisect skip`
//! does: never evidence. Culprits that no test can tell apart (a skipped prefix and the next one)
//! form a *group*; the answer is a group, named by its patches.
//!
//! # Policy
//! Test where the expected information about the culprit is largest (for several guests at once,
//! greedily the set of prefixes whose joint outcome is most informative). Stop when one group
//! holds `confidence` of the posterior mass; then verify: the culprit prefix must fail again and
//! the last testable prefix before it must pass again, and the confidence must still hold with
//! those runs counted. A verification that contradicts the answer sends the search on.

use serde::{Deserialize, Serialize};

pub mod policy;

/// The rates the posterior is kept on.
pub const RATES: [f64; 12] = [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// Tunables of the search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// The posterior mass one culprit group must hold to be the answer.
    pub confidence: f64,
    /// Probability that a good prefix fails with the bisected signature anyway.
    pub false_positive: f64,
    /// Prior weight of a deterministic failure (`p = 1`).
    pub deterministic_prior: f64,
    /// A known reproduction rate: the posterior is kept on that rate alone.
    pub known_rate: Option<f64>,
    /// Guest runs the search may spend before it gives its best guess.
    pub max_runs: u32,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            confidence: 0.995,
            false_positive: 1e-4,
            deterministic_prior: 0.5,
            known_rate: None,
            max_runs: 150,
        }
    }
}

/// What one guest run of a prefix says about the bisected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Failed with the bisected signature.
    Fail,
    /// Passed (or failed with another signature only: no sign of this failure).
    Pass,
    /// Failed with another signature only, and nothing of this one: not evidence either way.
    Other,
    /// Does not build or boot: the prefix is skipped for good.
    Skip,
}

/// One observation, in the order they were made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub prefix: usize,
    pub outcome: Outcome,
    /// Made while verifying a candidate culprit.
    #[serde(default)]
    pub verify: bool,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Run these prefixes (one guest each, possibly the same prefix twice), then observe each.
    Test(Vec<usize>),
    /// The search is over.
    Done(Conclusion),
}

/// The answer of a finished search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conclusion {
    /// First prefix that is bad (0: the base fails too). With untestable prefixes, the group's
    /// last member: the first prefix a test shows bad.
    pub culprit: usize,
    /// The culprits no test can tell apart (`culprit` among them), e.g. `[2, 3]` when prefix 2
    /// does not build.
    pub candidates: Vec<usize>,
    /// Posterior mass of `candidates`.
    pub confidence: f64,
    /// Whether the stated confidence was reached (else: the run budget ran out; a best guess).
    pub confident: bool,
    /// The verification runs agreed (the culprit failed again, the prefix before passed again).
    pub verified: bool,
    /// Posterior mean of the reproduction rate.
    pub rate: f64,
    pub runs: u32,
    pub rounds: u32,
}

/// What a guest run costs, in seconds, by its outcome. A bisection boot that fails ends at the
/// signature; one that passes runs its workloads to their end, so a pass usually costs several
/// times a fail.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Costs {
    pub fail: f64,
    pub pass: f64,
}

impl Costs {
    /// The mean seconds of the failing and of the passing runs among `runs` (other outcomes do
    /// not count); `None` until there is at least one of each.
    pub fn measured(runs: impl IntoIterator<Item = (Outcome, f64)>) -> Option<Costs> {
        let (mut f, mut nf, mut p, mut np) = (0.0, 0u32, 0.0, 0u32);
        for (o, s) in runs {
            match o {
                Outcome::Fail => (f, nf) = (f + s, nf + 1),
                Outcome::Pass => (p, np) = (p + s, np + 1),
                Outcome::Other | Outcome::Skip => {}
            }
        }
        (nf > 0 && np > 0).then(|| Costs {
            fail: f / nf as f64,
            pass: p / np as f64,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Bisection {
    n: usize,
    model: Model,
    /// Seconds per run by outcome, when known: then, once plain bisection has its answer, a run
    /// is chosen for its information per expected second ([`Bisection::set_costs`]).
    costs: Option<Costs>,
    rates: Vec<f64>,
    /// Joint posterior, `w[c * rates.len() + r]`, normalised.
    w: Vec<f64>,
    skipped: Vec<bool>,
    observations: Vec<Observation>,
    rounds: u32,
    /// The candidate under verification, and what its verification still needs.
    verifying: Option<Verify>,
}

#[derive(Debug, Clone, PartialEq)]
struct Verify {
    culprit: usize,
    /// The last testable prefix before the culprit group (None for culprit 0).
    before: Option<usize>,
    failed_again: bool,
    passed_again: bool,
}

impl Bisection {
    /// A search over a series of `n` patches. Nothing is assumed about any prefix: feed the runs
    /// that started the search (the failing tip) through [`observe`](Self::observe).
    pub fn new(n: usize, model: Model) -> Bisection {
        let rates: Vec<f64> = match model.known_rate {
            Some(p) => vec![p.clamp(0.01, 1.0)],
            None => RATES.to_vec(),
        };
        let prior: Vec<f64> = if rates.len() == 1 {
            vec![1.0]
        } else {
            let rest = (1.0 - model.deterministic_prior) / (rates.len() - 1) as f64;
            rates
                .iter()
                .map(|&p| {
                    if p >= 1.0 {
                        model.deterministic_prior
                    } else {
                        rest
                    }
                })
                .collect()
        };
        let mut w = Vec::with_capacity((n + 1) * rates.len());
        for _c in 0..=n {
            w.extend(prior.iter().map(|q| q / (n + 1) as f64));
        }
        Bisection {
            n,
            model,
            costs: None,
            rates,
            w,
            skipped: vec![false; n + 1],
            observations: Vec::new(),
            rounds: 0,
            verifying: None,
        }
    }

    pub fn patches(&self) -> usize {
        self.n
    }

    /// What a failing and a passing run cost (the driver's measured means). Only the choice of
    /// the next prefix uses them, never the posterior or the stopping rule: they change how soon
    /// the answer comes, not what it is or how sure it is.
    pub fn set_costs(&mut self, costs: Costs) {
        let ok = |x: f64| x.is_finite() && x > 0.0;
        self.costs = (ok(costs.fail) && ok(costs.pass)).then_some(costs);
    }

    pub fn observations(&self) -> &[Observation] {
        &self.observations
    }

    /// Guest runs that were evidence (passes and fails).
    pub fn runs(&self) -> u32 {
        self.observations
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Pass | Outcome::Fail))
            .count() as u32
    }

    pub fn is_skipped(&self, prefix: usize) -> bool {
        self.skipped[prefix]
    }

    /// Record the outcome of one run of `prefix`.
    pub fn observe(&mut self, prefix: usize, outcome: Outcome) {
        assert!(
            prefix <= self.n,
            "prefix {prefix} of a {}-patch series",
            self.n
        );
        let verify = self.verifying.is_some();
        self.observations.push(Observation {
            prefix,
            outcome,
            verify,
        });
        match outcome {
            Outcome::Skip => self.skipped[prefix] = true,
            Outcome::Other => {}
            Outcome::Fail | Outcome::Pass => {
                let fail = outcome == Outcome::Fail;
                let nr = self.rates.len();
                for c in 0..=self.n {
                    for (r, &p) in self.rates.iter().enumerate() {
                        let pf = self.fail_prob(c, p, prefix);
                        self.w[c * nr + r] *= if fail { pf } else { 1.0 - pf };
                    }
                }
                normalise(&mut self.w);
                if let Some(v) = &mut self.verifying {
                    if prefix == v.culprit && fail {
                        v.failed_again = true;
                    }
                    if Some(prefix) == v.before && !fail {
                        v.passed_again = true;
                    }
                }
            }
        }
    }

    /// Probability that a run of `prefix` fails with the signature, if `c` is the culprit and `p`
    /// the rate.
    fn fail_prob(&self, c: usize, p: f64, prefix: usize) -> f64 {
        if prefix >= c {
            p
        } else {
            self.model.false_positive
        }
    }

    /// Posterior probability of each culprit `0..=n`.
    pub fn posterior(&self) -> Vec<f64> {
        let nr = self.rates.len();
        (0..=self.n)
            .map(|c| self.w[c * nr..(c + 1) * nr].iter().sum())
            .collect()
    }

    /// Posterior mean of the reproduction rate.
    pub fn rate(&self) -> f64 {
        let nr = self.rates.len();
        let mut m = 0.0;
        for c in 0..=self.n {
            for (r, p) in self.rates.iter().enumerate() {
                m += self.w[c * nr + r] * p;
            }
        }
        m
    }

    /// Culprits no test can tell apart: each group is `[first..=last]` where `last` is testable
    /// (or `n`) and every member before it is a skipped prefix.
    fn groups(&self) -> Vec<std::ops::RangeInclusive<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        for c in 0..=self.n {
            if !self.skipped[c] || c == self.n {
                out.push(start..=c);
                start = c + 1;
            }
        }
        out
    }

    /// The most probable culprit group (its patches) and its posterior mass.
    pub fn best(&self) -> (Vec<usize>, f64) {
        let (g, m) = self.best_group();
        (g.collect(), m)
    }

    /// A candidate culprit is being verified.
    pub fn verifying(&self) -> bool {
        self.verifying.is_some()
    }

    /// The most probable group and its mass.
    fn best_group(&self) -> (std::ops::RangeInclusive<usize>, f64) {
        let post = self.posterior();
        self.groups()
            .into_iter()
            .map(|g| {
                let m: f64 = post[g.clone()].iter().sum();
                (g, m)
            })
            .fold((0..=0, -1.0), |a, b| if b.1 > a.1 { b } else { a })
    }

    /// Prefixes a guest can run.
    fn testable(&self) -> Vec<usize> {
        (0..=self.n).filter(|&k| !self.skipped[k]).collect()
    }

    /// What to test next with `slots` guests, or the answer.
    pub fn next(&mut self, slots: usize) -> Step {
        let slots = slots.max(1);
        let (group, mass) = self.best_group();
        let culprit = *group.end();
        let confident = mass >= self.model.confidence;
        let testable = self.testable();
        if testable.is_empty() || self.runs() >= self.model.max_runs {
            return Step::Done(self.conclude(group, mass, false));
        }
        if confident {
            // Verify the answer with fresh runs, unless they were already made for it.
            let before = testable
                .iter()
                .rev()
                .find(|&&k| k < *group.start())
                .copied();
            match &self.verifying {
                Some(v) if v.culprit == culprit && v.before == before => {}
                _ => {
                    self.verifying = Some(Verify {
                        culprit,
                        before,
                        failed_again: false,
                        passed_again: before.is_none(),
                    })
                }
            }
            let v = self.verifying.as_ref().expect("set above");
            if v.failed_again && v.passed_again {
                return Step::Done(self.conclude(group, mass, true));
            }
            let mut want = Vec::new();
            if !v.failed_again {
                want.push(culprit);
            }
            if !v.passed_again {
                want.extend(v.before);
            }
            // Spare guests go to the most informative prefixes.
            while want.len() < slots {
                want.push(self.pick(&want, &testable));
            }
            want.truncate(slots);
            self.rounds += 1;
            return Step::Test(want);
        }
        // A candidate lost its confidence: its verification starts over if it comes back.
        self.verifying = None;
        let mut chosen = Vec::new();
        for _ in 0..slots {
            let k = self.pick(&chosen, &testable);
            chosen.push(k);
        }
        self.rounds += 1;
        Step::Test(chosen)
    }

    fn conclude(
        &self,
        group: std::ops::RangeInclusive<usize>,
        mass: f64,
        verified: bool,
    ) -> Conclusion {
        Conclusion {
            culprit: *group.end(),
            candidates: group.collect(),
            confidence: mass,
            confident: mass >= self.model.confidence,
            verified,
            rate: self.rate(),
            runs: self.runs(),
            rounds: self.rounds,
        }
    }

    /// The testable prefix that, run together with `chosen`, leaves the least expected entropy
    /// over the culprit. Ties go to the lower prefix (deterministic).
    ///
    /// With [`Costs`] known and plain bisection over (no deterministic slice: the rate is what is
    /// left to learn, or the bug showed itself flaky), the prefix with the most expected
    /// information per expected second instead: a run expected to fail (it ends at the signature)
    /// may teach less than one expected to pass and still be worth more for its time.
    fn pick(&self, chosen: &[usize], testable: &[usize]) -> usize {
        let slice = self.deterministic_slice();
        // Plain bisection has its answer and nothing has shown the bug flaky: what is left is to
        // confirm that answer, so a run is worth how far it is expected to wear down the mass
        // outside the answer's group (per second, every run costing the same until the costs
        // are known). Once a pass where a fail was seen has made the rate what matters, the
        // information about the culprit (per second, with the costs).
        let confirm =
            (slice.is_none() && self.deterministic_mass() >= 0.01).then(|| self.best_group().0);
        let costs = match (self.costs, &confirm) {
            (Some(c), _) if slice.is_none() => Some(c),
            (None, Some(_)) => Some(Costs {
                fail: 1.0,
                pass: 1.0,
            }),
            _ => None,
        };
        let value = |set: &[usize]| match &confirm {
            Some(g) => self.expected_log_rivals(set, g),
            None => self.expected_entropy(set, None),
        };
        let now = costs.map(|_| value(chosen));
        let mut best = (f64::INFINITY, testable[0]);
        for &k in testable {
            let mut set = chosen.to_vec();
            set.push(k);
            let score = match (costs, now) {
                (Some(c), Some(now)) => {
                    let pf = self.fail_chance(k);
                    -(now - value(&set)).max(0.0) / (pf * c.fail + (1.0 - pf) * c.pass)
                }
                _ => self.expected_entropy(&set, slice),
            };
            if score < best.0 - 1e-12 {
                best = (score, k);
            }
        }
        best.1
    }

    /// The runs say the bug is not deterministic: a prefix passed where it or one before it
    /// failed (the `p = 1` hypotheses keep less than 1% of the mass), or the known rate is below 1.
    pub fn shown_flaky(&self) -> bool {
        self.deterministic_mass() < 0.01
    }

    /// Posterior mass of a deterministic failure (`p = 1`; 0 with a known rate below 1).
    fn deterministic_mass(&self) -> f64 {
        let nr = self.rates.len();
        match self.rates.iter().position(|&p| p >= 1.0) {
            Some(r1) => (0..=self.n).map(|c| self.w[c * nr + r1]).sum(),
            None => 0.0,
        }
    }

    /// Expected natural log of the posterior mass outside group `g` after running every prefix of
    /// `set` once: how far from the stopping rule's confidence the answer `g` is expected to be.
    fn expected_log_rivals(&self, set: &[usize], g: &std::ops::RangeInclusive<usize>) -> f64 {
        let nr = self.rates.len();
        let mut total = 0.0;
        for o in 0..(1usize << set.len()) {
            let (mut inside, mut outside) = (0.0, 0.0);
            for c in 0..=self.n {
                for (r, &p) in self.rates.iter().enumerate() {
                    let mut l = self.w[c * nr + r];
                    for (i, &k) in set.iter().enumerate() {
                        let pf = self.fail_prob(c, p, k);
                        l *= if o >> i & 1 == 1 { pf } else { 1.0 - pf };
                    }
                    if g.contains(&c) {
                        inside += l
                    } else {
                        outside += l
                    }
                }
            }
            let po = inside + outside;
            if po > 0.0 {
                total += po * (outside / po).max(1e-12).ln();
            }
        }
        total
    }

    /// Posterior predictive probability that a run of `prefix` fails with the signature.
    fn fail_chance(&self, prefix: usize) -> f64 {
        let nr = self.rates.len();
        let mut pf = 0.0;
        for c in 0..=self.n {
            for (r, &p) in self.rates.iter().enumerate() {
                pf += self.w[c * nr + r] * self.fail_prob(c, p, prefix);
            }
        }
        pf.clamp(0.0, 1.0)
    }

    /// While the runs may be deterministic (the `p = 1` hypotheses keep 1% of the mass), the
    /// search splits as plain bisection does (`Some(index of p = 1)`): a flaky bug shows itself
    /// by a pass where a fail was seen, and then every rate counts; so do they once plain bisection
    /// has its answer. The stopping rule always weighs every rate.
    fn deterministic_slice(&self) -> Option<usize> {
        let nr = self.rates.len();
        let r1 = self.rates.iter().position(|&p| p >= 1.0)?;
        let slice: Vec<f64> = (0..=self.n).map(|c| self.w[c * nr + r1]).collect();
        let mass: f64 = slice.iter().sum();
        // Once the slice has its answer, what is left to learn is the rate: every rate counts.
        let settled = slice.iter().any(|&m| m >= 0.999 * mass);
        (mass >= 0.01 && !settled).then_some(r1)
    }

    /// Expected posterior entropy (bits) of the culprit after running every prefix of `set` once,
    /// over every rate or over one (`only`).
    fn expected_entropy(&self, set: &[usize], only: Option<usize>) -> f64 {
        let nr = self.rates.len();
        let outcomes = 1usize << set.len();
        let mut total = 0.0;
        let mut marginal = vec![0.0; self.n + 1];
        for o in 0..outcomes {
            let mut po = 0.0;
            for (c, m) in marginal.iter_mut().enumerate() {
                let mut s = 0.0;
                for (r, &p) in self.rates.iter().enumerate() {
                    if only.is_some_and(|o| o != r) {
                        continue;
                    }
                    let mut l = self.w[c * nr + r];
                    if l == 0.0 {
                        continue;
                    }
                    for (i, &k) in set.iter().enumerate() {
                        let pf = self.fail_prob(c, p, k);
                        l *= if o >> i & 1 == 1 { pf } else { 1.0 - pf };
                    }
                    s += l;
                }
                *m = s;
                po += s;
            }
            if po <= 0.0 {
                continue;
            }
            let mut h = 0.0;
            for &m in &marginal {
                if m > 0.0 {
                    let q = m / po;
                    h -= q * q.log2();
                }
            }
            total += po * h;
        }
        total
    }
}

/// What a guest run says about the bisected `signature`, from its verdict and the titles of its
/// findings. `None`: the run could not be completed (an infrastructure error); retry it.
pub fn classify(
    signature: &str,
    verdict: crate::verdict::Verdict,
    titles: &[String],
) -> Option<Outcome> {
    use crate::verdict::Verdict;
    if titles.iter().any(|t| t == signature) {
        return Some(Outcome::Fail);
    }
    match verdict {
        Verdict::InfraError => None,
        Verdict::Pass => Some(Outcome::Pass),
        _ => Some(Outcome::Other),
    }
}

/// Runs without a failure needed before a variant counts as fixed: the smallest `m` with
/// `1 - (1 - rate)^m >= confidence` (a variant that still had the bug would have failed at
/// least once), at most `cap`.
pub fn clean_runs_needed(rate: f64, confidence: f64, cap: u32) -> u32 {
    let miss = (1.0 - rate).clamp(0.0, 1.0);
    if miss <= 0.0 {
        return 1;
    }
    let m = ((1.0 - confidence).ln() / miss.ln()).ceil();
    (m.max(1.0) as u32).min(cap)
}

/// `1 - (1 - rate)^runs`: how sure `runs` clean runs make us that the bug is gone.
pub fn clean_confidence(rate: f64, runs: u32) -> f64 {
    1.0 - (1.0 - rate).clamp(0.0, 1.0).powi(runs as i32)
}

fn normalise(w: &mut [f64]) {
    let s: f64 = w.iter().sum();
    if s > 0.0 {
        for x in w.iter_mut() {
            *x /= s;
        }
    }
}

/// A simulated bisection: the truth is known, outcomes are drawn from it.
pub mod sim {
    use super::*;

    /// The world a simulated search runs in.
    #[derive(Debug, Clone)]
    pub struct World {
        pub patches: usize,
        /// True culprit (first bad prefix), `0..=patches`.
        pub culprit: usize,
        /// Reproduction rate of a bad prefix.
        pub rate: f64,
        /// Prefixes that do not build.
        pub unbuildable: Vec<usize>,
        /// Guests at once.
        pub slots: usize,
        /// How often a good prefix fails with the signature anyway.
        pub false_positive: f64,
        /// What a failing and a passing run cost, summed into the trial's `seconds`; given to
        /// the search (cost-aware choice) unless `blind`.
        pub costs: Option<Costs>,
        pub blind: bool,
    }

    impl World {
        /// `patches` patches, the culprit first of all, `rate`, one guest, nothing else.
        pub fn new(patches: usize, rate: f64) -> World {
            World {
                patches,
                culprit: 1,
                rate,
                unbuildable: Vec::new(),
                slots: 1,
                false_positive: 0.0,
                costs: None,
                blind: false,
            }
        }
    }

    #[derive(Debug, Clone)]
    pub struct Trial {
        pub conclusion: Conclusion,
        /// The answer's group holds the true culprit.
        pub correct: bool,
        /// Runs after which the most probable culprit was right and stayed right.
        pub runs_to_right_guess: u32,
        pub observations: Vec<Observation>,
        /// The runs' cost after the trigger, by the world's [`Costs`] (0 without them).
        pub seconds: f64,
    }

    /// One search in `world`, driven by a seeded generator. It starts as the harness does: the
    /// tip was run once and failed (for a rate below 1 the first failing run is drawn).
    pub fn trial(world: &World, model: Model, seed: u64) -> Trial {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut b = Bisection::new(world.patches, model);
        if let Some(c) = world.costs.filter(|_| !world.blind) {
            b.set_costs(c);
        }
        let mut seconds = 0.0;
        let run = |b: &mut Bisection, k: usize, rng: &mut fastrand::Rng, seconds: &mut f64| {
            if world.unbuildable.contains(&k) {
                b.observe(k, Outcome::Skip);
                return;
            }
            let pf = if k >= world.culprit {
                world.rate
            } else {
                world.false_positive
            };
            let fail = rng.f64() < pf;
            if let Some(c) = world.costs {
                *seconds += if fail { c.fail } else { c.pass };
            }
            b.observe(k, if fail { Outcome::Fail } else { Outcome::Pass });
        };
        // What started the search: the tip failed.
        for &k in &world.unbuildable {
            b.observe(k, Outcome::Skip);
        }
        b.observe(world.patches, Outcome::Fail);
        let mut right_since = None;
        loop {
            let guess = b.best_group().0;
            if guess.contains(&world.culprit) {
                right_since.get_or_insert(b.runs());
            } else {
                right_since = None;
            }
            match b.next(world.slots) {
                Step::Test(ks) => {
                    for k in ks {
                        run(&mut b, k, &mut rng, &mut seconds);
                    }
                }
                Step::Done(c) => {
                    let correct = c.candidates.contains(&world.culprit);
                    return Trial {
                        conclusion: c,
                        correct,
                        runs_to_right_guess: right_since.unwrap_or(u32::MAX),
                        observations: b.observations().to_vec(),
                        seconds,
                    };
                }
            }
        }
    }

    /// Aggregate of many trials with culprits spread over every position.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Summary {
        pub trials: u32,
        pub accuracy: f64,
        pub mean_runs: f64,
        pub max_runs: u32,
        pub mean_rounds: f64,
        pub max_rounds: u32,
        /// Share that ended on the run budget without the stated confidence.
        pub inconclusive: f64,
        /// Runs (after the failing run that started the search) until the most probable culprit
        /// was the right one for good: the search proper; the rest is confirmation.
        pub mean_runs_to_right: f64,
        pub max_runs_to_right: u32,
        /// Mean and max cost of the runs after the trigger (with [`Costs`]).
        pub mean_seconds: f64,
        pub max_seconds: f64,
    }

    /// `trials` searches in worlds like `like`, the culprit moved over every position in turn.
    pub fn summarise(like: &World, model: Model, trials: u32, seed: u64) -> Summary {
        let mut s = Summary {
            trials,
            accuracy: 0.0,
            mean_runs: 0.0,
            max_runs: 0,
            mean_rounds: 0.0,
            max_rounds: 0,
            inconclusive: 0.0,
            mean_runs_to_right: 0.0,
            max_runs_to_right: 0,
            mean_seconds: 0.0,
            max_seconds: 0.0,
        };
        for t in 0..trials {
            let world = World {
                culprit: 1 + (t as usize % like.patches),
                ..like.clone()
            };
            let r = trial(&world, model, seed.wrapping_add(t as u64 * 7919));
            s.mean_seconds += r.seconds;
            s.max_seconds = s.max_seconds.max(r.seconds);
            let c = &r.conclusion;
            s.accuracy += r.correct as u32 as f64;
            s.mean_runs += c.runs as f64;
            s.max_runs = s.max_runs.max(c.runs);
            s.mean_rounds += c.rounds as f64;
            s.max_rounds = s.max_rounds.max(c.rounds);
            s.inconclusive += (!c.confident) as u32 as f64;
            let right = r.runs_to_right_guess.min(c.runs).saturating_sub(1);
            s.mean_runs_to_right += right as f64;
            s.max_runs_to_right = s.max_runs_to_right.max(right);
        }
        let t = trials as f64;
        s.accuracy /= t;
        s.mean_runs /= t;
        s.mean_rounds /= t;
        s.inconclusive /= t;
        s.mean_runs_to_right /= t;
        s.mean_seconds /= t;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::sim::*;
    use super::*;

    fn world(patches: usize, culprit: usize, rate: f64) -> World {
        World {
            culprit,
            ..World::new(patches, rate)
        }
    }

    #[test]
    fn a_deterministic_bug_is_found_by_binary_search_then_verified() {
        for n in [1, 2, 6, 7, 50, 200] {
            let bound = (n as f64 + 1.0).log2().ceil() as u32;
            for culprit in 1..=n {
                let t = trial(&world(n, culprit, 1.0), Model::default(), culprit as u64);
                assert!(t.correct, "n={n} culprit={culprit}: {:?}", t.conclusion);
                assert!(t.conclusion.verified && t.conclusion.confident);
                // The trigger run plus the search: right after at most ceil(log2(n+1)) more.
                assert!(
                    t.runs_to_right_guess <= 1 + bound,
                    "n={n} culprit={culprit}: right after {} runs",
                    t.runs_to_right_guess
                );
            }
        }
    }

    #[test]
    fn costs_are_the_mean_seconds_of_fails_and_passes() {
        use Outcome::*;
        assert_eq!(Costs::measured([(Fail, 4.0), (Other, 99.0)]), None);
        assert_eq!(
            Costs::measured([
                (Fail, 4.0),
                (Pass, 20.0),
                (Fail, 6.0),
                (Skip, 1.0),
                (Pass, 22.0)
            ]),
            Some(Costs {
                fail: 5.0,
                pass: 21.0
            })
        );
    }

    /// Costs change where the search looks once plain bisection has its answer, never what it
    /// answers: with passes four times dearer than fails (a failing bisection boot ends at the
    /// signature), a deterministic bug costs less, and flaky bugs are named as accurately.
    #[test]
    fn cheap_fails_make_a_deterministic_search_cheaper_and_no_less_accurate() {
        let costs = Some(Costs {
            fail: 5.0,
            pass: 21.0,
        });
        let cost_of = |o: &[Observation]| -> f64 {
            o.iter()
                .skip(1)
                .map(|o| {
                    if o.outcome == Outcome::Fail {
                        5.0
                    } else {
                        21.0
                    }
                })
                .sum()
        };
        let (mut blind_s, mut aware_s) = (0.0, 0.0);
        for culprit in 1..=6 {
            let blind = trial(&world(6, culprit, 1.0), Model::default(), culprit as u64);
            let mut w = world(6, culprit, 1.0);
            w.costs = costs;
            let aware = trial(&w, Model::default(), culprit as u64);
            assert!(blind.correct && aware.correct && aware.conclusion.verified);
            blind_s += cost_of(&blind.observations);
            aware_s += cost_of(&aware.observations);
            assert!((aware.seconds - cost_of(&aware.observations)).abs() < 1e-9);
            // Plain bisection first: right as soon as without costs.
            assert!(aware.runs_to_right_guess <= 1 + 3, "culprit {culprit}");
        }
        assert!(
            aware_s < 0.85 * blind_s,
            "aware {aware_s} s, blind {blind_s} s"
        );
        // The stopping rule is the same, so is the accuracy (docs/bisection.md: 300 trials per
        // row; here fewer, so a looser bound).
        for rate in [0.5, 0.3] {
            let aware = summarise(
                &World {
                    costs,
                    ..World::new(6, rate)
                },
                Model::default(),
                60,
                3,
            );
            assert!(aware.accuracy >= 0.95, "{rate}: {aware:?}");
        }
    }

    /// Once plain bisection has its answer and nothing showed the bug flaky, the search confirms
    /// that answer: it passes only where a pass tells against the rivals (the last prefix before
    /// the answer) and otherwise fails cheaply at bad prefixes, which wears down the low rates.
    #[test]
    fn a_settled_deterministic_answer_is_confirmed_where_passes_count() {
        for n in [6, 13] {
            for culprit in 1..=n {
                let mut w = world(n, culprit, 1.0);
                w.costs = Some(Costs {
                    fail: 4.8,
                    pass: 15.8,
                });
                let t = trial(&w, Model::default(), culprit as u64);
                assert!(t.correct && t.conclusion.verified, "{culprit}: {t:?}");
                // The first time the best guess was right is when plain bisection answered.
                let settled = t.runs_to_right_guess as usize;
                for o in t.observations.iter().skip(settled) {
                    match o.outcome {
                        Outcome::Pass => assert_eq!(o.prefix + 1, culprit, "{t:?}"),
                        _ => assert!(o.prefix >= culprit, "{t:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn a_known_deterministic_rate_needs_no_more_than_log2_rounds() {
        let model = Model {
            known_rate: Some(1.0),
            ..Model::default()
        };
        for n in [1, 6, 50, 200] {
            let bound = (n as f64 + 1.0).log2().ceil() as u32;
            for culprit in 1..=n {
                let t = trial(&world(n, culprit, 1.0), model, 1);
                assert!(t.correct);
                // Search rounds, then at most two verification rounds.
                assert!(
                    t.conclusion.rounds <= bound + 2,
                    "n={n} c={culprit}: {:?}",
                    t.conclusion
                );
            }
        }
    }

    #[test]
    fn the_base_failing_too_is_an_answer() {
        let t = trial(&world(6, 0, 1.0), Model::default(), 3);
        assert_eq!(t.conclusion.culprit, 0);
        assert!(t.conclusion.verified);
    }

    #[test]
    fn an_unbuildable_prefix_is_skipped_and_reported_in_the_group() {
        // Patch 2 does not build until patch 3 fixes it; the bug is patch 3 or 4.
        for culprit in [3, 4, 2] {
            let w = World {
                unbuildable: vec![2],
                ..world(6, culprit, 1.0)
            };
            let t = trial(&w, Model::default(), 9);
            assert!(t.correct, "{culprit}: {:?}", t.conclusion);
            if culprit == 2 || culprit == 3 {
                assert_eq!(t.conclusion.candidates, vec![2, 3]);
            } else {
                assert_eq!(t.conclusion.candidates, vec![4]);
            }
        }
    }

    #[test]
    fn runs_classify_by_signature() {
        use crate::verdict::Verdict;
        let sig = "WARNING in ceph_unlink".to_string();
        let other = "INFO: task hung in ceph_sync_fs".to_string();
        assert_eq!(
            classify(&sig, Verdict::Fail, &[other.clone(), sig.clone()]),
            Some(Outcome::Fail)
        );
        assert_eq!(
            classify(&sig, Verdict::Fail, &[other]),
            Some(Outcome::Other)
        );
        assert_eq!(classify(&sig, Verdict::Pass, &[]), Some(Outcome::Pass));
        assert_eq!(classify(&sig, Verdict::InfraError, &[]), None);
    }

    #[test]
    fn clean_runs_scale_with_the_rate() {
        assert_eq!(clean_runs_needed(1.0, 0.99, 10), 1);
        assert_eq!(clean_runs_needed(0.98, 0.99, 10), 2);
        assert_eq!(clean_runs_needed(0.5, 0.99, 10), 7);
        assert_eq!(clean_runs_needed(0.3, 0.99, 10), 10);
        assert!((clean_confidence(0.5, 7) - 0.9921875).abs() < 1e-9);
    }

    #[test]
    fn other_signatures_are_not_evidence() {
        let mut b = Bisection::new(4, Model::default());
        b.observe(4, Outcome::Fail);
        let before = b.posterior();
        b.observe(2, Outcome::Other);
        assert_eq!(b.posterior(), before);
        assert_eq!(b.runs(), 1);
    }

    #[test]
    fn flaky_bugs_are_found_at_the_stated_confidence() {
        for (n, rate) in [(6, 0.3), (6, 0.5), (12, 0.3)] {
            let s = summarise(&World::new(n, rate), Model::default(), 120, 11);
            assert!(s.accuracy >= 0.97, "n={n} p={rate}: {s:?}");
        }
    }

    #[test]
    fn parallel_guests_cut_rounds() {
        let one = summarise(&World::new(12, 0.5), Model::default(), 24, 5);
        let three = summarise(
            &World {
                slots: 3,
                ..World::new(12, 0.5)
            },
            Model::default(),
            24,
            5,
        );
        assert!(three.accuracy >= 0.95, "{three:?}");
        assert!(three.mean_rounds < one.mean_rounds, "{one:?} vs {three:?}");
    }

    #[test]
    fn the_search_is_deterministic() {
        let w = world(20, 7, 0.4);
        let a = trial(&w, Model::default(), 42).conclusion;
        let b = trial(&w, Model::default(), 42).conclusion;
        assert_eq!(a, b);
    }

    #[test]
    fn the_run_budget_ends_a_hopeless_search_with_a_best_guess() {
        let model = Model {
            max_runs: 8,
            ..Model::default()
        };
        let t = trial(&world(50, 20, 0.05), model, 1);
        assert!(t.conclusion.runs <= 8);
        assert!(!t.conclusion.confident);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Whatever the world, the search ends within its budget, asks only for testable
            /// prefixes, and names a group that exists.
            #[test]
            fn the_search_always_ends_sanely(
                n in 1usize..200,
                culprit_frac in 0.0f64..1.0,
                rate in 0.05f64..=1.0,
                skip_frac in proptest::collection::vec(0.0f64..1.0, 0..4),
                slots in 1usize..4,
                seed in any::<u64>(),
            ) {
                let culprit = ((culprit_frac * n as f64) as usize).min(n);
                let unbuildable: Vec<usize> = skip_frac
                    .iter()
                    .map(|f| ((f * n as f64) as usize).clamp(1, n.saturating_sub(1).max(1)))
                    .filter(|&k| k < n)
                    .collect();
                let model = Model { max_runs: 40, ..Model::default() };
                let w = World {
                    patches: n, culprit, rate, unbuildable: unbuildable.clone(), slots, false_positive: 0.0, costs: None, blind: false,
                };
                let t = trial(&w, model, seed);
                let c = &t.conclusion;
                prop_assert!(c.runs <= 40 + slots as u32);
                prop_assert!(c.candidates.contains(&c.culprit));
                prop_assert!(!unbuildable.contains(&c.culprit) || c.culprit == n);
                prop_assert!((0.0..=1.0 + 1e-9).contains(&c.confidence));
                if c.confident && rate >= 0.99 {
                    prop_assert!(t.correct, "{:?}", c);
                }
            }
        }
    }
}
