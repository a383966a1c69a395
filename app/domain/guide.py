"""Help for learners: what each stage is for, what to do in it, and common pitfalls."""

from __future__ import annotations

from app.domain.stages import Stage

STAGE_PURPOSE: dict[Stage, str] = {
    Stage.PROBLEM: "Turn a business question into a measurable ML goal: the charter.",
    Stage.DATA: "Import tabular data and clean it with a replayable, undoable recipe.",
    Stage.EXPLORE: "Profile every column, see distributions and relationships, fix data alerts.",
    Stage.TRAIN: "Cross-validate candidate models against a baseline on a locked split.",
    Stage.EVALUATE: "Score the chosen model on the untouched holdout and pass the charter's gate.",
    Stage.DEPLOY: "Package a passing model as a safe, verifiable predictor bundle.",
    Stage.MONITOR: "Check new batches against the training baseline: drift, quality, accuracy.",
    Stage.RETRAIN: "Train a challenger on newer data and promote it only if it is better.",
}

STAGE_GUIDE: dict[Stage, str] = {
    Stage.PROBLEM: """\
## Problem — the charter

**What it is for.** Every later decision needs a yardstick. The charter says what the
business wants, which decision the model supports, and how success is measured: the
*primary metric* and the *threshold* a model must reach. The leaderboard sorts by that
metric, the evaluation gate compares against that threshold, and monitoring alerts use it.

**What to do here.**
1. Write the objective in business words ("flag customers likely to earn over 50K so the
   campaign reaches them").
2. Name who decides and who is affected (stakeholders), and the decision the model supports.
3. Choose the task type, the target column and — for binary tasks — the positive class.
4. Pick the primary metric and a threshold you could defend in a meeting.
5. Add secondary constraints: a minimum recall, a maximum p95 latency in milliseconds.
6. Save with **ctrl+s**. Every save is a new charter version; **F2** shows the history.

**Common pitfalls.**
- Accuracy on imbalanced data: 76 % accuracy is what "always say no" scores on adult.
  Prefer F1, recall or balanced accuracy when one class is rare.
- A threshold nobody can justify. Ask what the current process achieves and beat that.
- Forgetting the time column: with time-ordered data, a random split leaks the future.
""",
    Stage.DATA: """\
## Data — import and clean

**What it is for.** Models learn from whatever they are given, dirt included. This stage
brings files into the project store and cleans them with a *recipe*: ordered steps that can
be previewed, undone and replayed on new batches at prediction time.

**What to do here.** Import a file, check the detected types, then follow the suggestions:
turn marker values such as `?` into missing, trim spaces, merge inconsistent spellings,
drop duplicates. Each applied recipe makes a new immutable dataset version.

**Common pitfalls.**
- Target leakage: a column that is computed from the target (bike rentals: `casual +
  registered == cnt`) makes a model look perfect and fail in production.
- Cleaning with statistics of the whole table and then evaluating on part of it.
""",
    Stage.EXPLORE: """\
## Explore — profile the data

**What it is for.** See the data before modelling: types, missing values, distributions,
relationships with the target, and a ranked list of data-quality alerts.

**What to do here.** Read the alerts from the top; each one jumps to the cleaning step
that fixes it. Look at the target's balance and at the strongest relationships.

**Common pitfalls.** Trusting means on skewed columns; treating ID columns as features;
ignoring a feature that is too good to be true (leakage).
""",
    Stage.TRAIN: """\
## Train — the leaderboard

**What it is for.** Compare candidate algorithms fairly: the same cross-validation folds,
preprocessing fitted inside each fold, and a dummy baseline that every model must beat.

**What to do here.** Pick candidates, keep the defaults for a first run, read mean ± std of
the charter's metric, and look at fit time, latency and model size too.

**Common pitfalls.** Tuning on the holdout; reading a 0.002 difference as a real win when
the fold-to-fold spread is ten times bigger.
""",
    Stage.EVALUATE: """\
## Evaluate — the gate

**What it is for.** Score one chosen model once on rows it has never seen and compare the
result, with its confidence interval, against the charter's threshold and the baseline.

**What to do here.** Read the gate: pass, fail, or too close to call. Tune the decision
threshold if the charter has secondary constraints. On failure, the gate says which stage
to revisit.

**Common pitfalls.** Evaluating many models on the holdout and keeping the best (that is
training on it); ignoring the interval.
""",
    Stage.DEPLOY: """\
## Deploy — the predictor bundle

**What it is for.** Package the model with its cleaning steps, input contract and baseline
statistics into a bundle that loads without pickle and refuses tampered files.

**What to do here.** Build a bundle from a passing evaluation (b), try one row in the form
generated from its contract (t), promote it to production (p) — roll back (r) if needed —
serve it locally (s) or build an installable predictor wheel (w). Headless: `mlwb deploy`,
`mlwb registry promote V`, `mlwb predict`, `mlwb serve`, `mlwb deploy --wheel`.

**Common pitfalls.** Shipping a model without the cleaning steps it was trained after;
no record of which version is live.
""",
    Stage.MONITOR: """\
## Monitor — new batches

**What it is for.** Check each new batch against the contract and the training baseline:
drift per feature with effect sizes, prediction drift, missing rates, unseen categories,
and accuracy once labels arrive.

**What to do here.** Add a batch (a), read why it is OK, warn or alert, bring in labels
when they arrive (l) and record what you decide (d). Headless: `mlwb monitor add FILE`,
`mlwb monitor add --from-log` (rows the server scored), `mlwb monitor labels`, `mlwb monitor
decide`. A feature drifts only when its statistic beats both a minimum effect size and what
sampling noise alone reaches at this batch size.

**Common pitfalls.** Alerting on every p-value of a huge batch; ignoring small batches.
""",
    Stage.RETRAIN: """\
## Retrain — champion and challenger

**What it is for.** When monitoring says the world moved, train a challenger on newer data
and compare it with the champion on the same recent rows before promoting it.

**What to do here.** Choose the new training data, train, compare, then promote or keep.

**Common pitfalls.** Comparing on different rows; promoting without a recorded reason.
""",
}
