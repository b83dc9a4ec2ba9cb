//! The bisection's accuracy table (docs/bisection.md): simulated searches with culprits spread over
//! every position, for several series lengths, reproduction rates and numbers of guests.
//!
//!     cargo run --release -p harness-core --example bisect_accuracy [TRIALS]
//!     SLOTS=1,2,4 RATES=1,0.5,0.3 cargo run --release -p harness-core --example bisect_accuracy
//!     COSTS=5,21 [BLIND=1] ONE=1 cargo run --release -p harness-core --example bisect_accuracy

use harness_core::bisect::{sim, Model};

fn main() {
    let trials: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let mut model = Model::default();
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
    if let Some(v) = env("PRIOR") {
        model.deterministic_prior = v;
    }
    if let Some(v) = env("CONF") {
        model.confidence = v;
    }
    if let Some(v) = env("BUDGET") {
        model.max_runs = v as u32;
    }
    let only_one_guest = std::env::var("ONE").is_ok();
    // `COSTS=5,21`: a failing and a passing run's seconds; the search chooses by information per
    // expected second, and the table gains the runs' mean and max seconds.
    let costs = std::env::var("COSTS").ok().and_then(|v| {
        let (f, p) = v.split_once(',')?;
        Some(harness_core::bisect::Costs {
            fail: f.trim().parse().ok()?,
            pass: p.trim().parse().ok()?,
        })
    });
    println!(
        "model: confidence {}, false positives {}, p=1 prior {}, budget {} runs; {trials} trials per row",
        model.confidence, model.false_positive, model.deterministic_prior, model.max_runs
    );
    // `BLIND=1`: the runs are costed, but the search does not know the costs (the comparison).
    let blind = std::env::var("BLIND").is_ok();
    if let Some(c) = costs {
        println!(
            "costs: a failing run {} s, a passing run {} s ({})",
            c.fail,
            c.pass,
            if blind {
                "not told to the search"
            } else {
                "cost-aware choice"
            }
        );
    }
    println!(
        "| n | p | guests | correct | mean runs | max runs | mean rounds | max rounds | budget hit | runs to right guess (mean/max) | ceil(log2(n+1)) | seconds (mean/max) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    // `SLOTS=1,2,4 RATES=1,0.5,0.3`: the table of guests at once (docs/bisection.md, "Several
    // guests at once").
    let list = |k: &str, default: &[f64]| -> Vec<f64> {
        std::env::var(k)
            .ok()
            .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
            .unwrap_or_else(|| default.to_vec())
    };
    let slot_list: Vec<usize> = list("SLOTS", &[1.0, 3.0])
        .into_iter()
        .map(|s| s as usize)
        .collect();
    let rate_list = list("RATES", &[1.0, 0.5, 0.3, 0.1]);
    // `NS=50`: only those series lengths.
    let ns: Vec<usize> = list("NS", &[6.0, 50.0])
        .into_iter()
        .map(|n| n as usize)
        .collect();
    for &n in &ns {
        for &slots in &slot_list {
            if only_one_guest && slots > 1 {
                continue;
            }
            for &p in &rate_list {
                if only_one_guest && p < 0.3 {
                    continue;
                }
                let s = sim::summarise(
                    &sim::World {
                        slots,
                        costs,
                        blind,
                        ..sim::World::new(n, p)
                    },
                    model,
                    trials,
                    1,
                );
                println!(
                    "| {n} | {p} | {slots} | {:.2}% | {:.1} | {} | {:.1} | {} | {:.1}% | {:.1} / {} | {} | {:.0} / {:.0} |",
                    s.accuracy * 100.0,
                    s.mean_runs,
                    s.max_runs,
                    s.mean_rounds,
                    s.max_rounds,
                    s.inconclusive * 100.0,
                    s.mean_runs_to_right,
                    s.max_runs_to_right,
                    (n as f64 + 1.0).log2().ceil(),
                    s.mean_seconds,
                    s.max_seconds
                );
            }
        }
    }
}
