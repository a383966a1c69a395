"""The two lessons: their tasks, what each default means, and the hints.

Texts name keys of the TUI and the equivalent CLI command, so a learner can follow either.
``{batches}`` in a text is replaced by the folder of the lesson's batch files.
"""

from __future__ import annotations

from app.domain.lesson import Lesson, Task
from app.domain.stages import Stage

_PROFILE = Task(
    id="profile",
    stage=Stage.EXPLORE,
    title="Profile the current version",
    todo="Open 3 Explore (or run mlwb eda) on the current dataset version and read the alerts "
    "from the top.",
    why="A profile belongs to one dataset version: every cleaning step makes a new version "
    "that needs a new look. The alerts are ranked by how much they would hurt a model "
    "(duplicates, leakage suspects, constant columns, high missing rates). Without it, the "
    "first time you see the data is through the model's mistakes.",
    hints=[
        "Press 3 to open Explore; the profile is computed for the current version.",
        "Press a on Explore for the Alerts tab; Enter on an alert opens the step that fixes it.",
        "Headless: mlwb eda --project PROJECT, then mlwb eda alerts --project PROJECT.",
    ],
)

_GATE = Task(
    id="gate",
    stage=Stage.EVALUATE,
    title="Pass the gate",
    todo="Evaluate the chosen run once on the untouched holdout and get a PASS against the "
    "charter.",
    why="The holdout was locked before any training, so it is the one honest estimate. The "
    "gate judges the confidence interval, not only the point estimate: TOO CLOSE TO CALL "
    "means the holdout cannot tell whether the threshold is met. Without a gate, a lucky "
    "split ships a model that misses the charter in production. Evaluating many runs and "
    "keeping the best turns the holdout into training data.",
    hints=[
        "Press 5 for Evaluate, then e to judge the chosen run on the holdout.",
        "On FAIL the gate names the stage to revisit: usually Train (a better candidate) or "
        "Data (a cleaning step).",
        "Headless: mlwb evaluate --project PROJECT.",
    ],
)

_DEPLOY = Task(
    id="deploy",
    stage=Stage.DEPLOY,
    title="Put a bundle in production",
    todo="Build the predictor bundle of the passing run and promote it to production.",
    why="The bundle holds the model as a skops file (never pickle), the row-wise part of the "
    "recipe, the input contract and the training baseline statistics, with a hash manifest. "
    "Without the recipe, production rows keep the dirt the model never saw; without the "
    "contract, a renamed column silently becomes missing; without the registry, nobody "
    "knows which version is live or how to roll back.",
    hints=[
        "Press 6 for Deploy, b to build the bundle, then p to promote it.",
        "t tries one row in a form generated from the bundle's input contract.",
        "Headless: mlwb deploy --project PROJECT, then mlwb registry promote VERSION.",
    ],
)

_CHALLENGER = Task(
    id="challenger",
    stage=Stage.RETRAIN,
    title="Train a challenger",
    todo="Retrain the champion's configuration on the original data plus the labelled "
    "batches; the newest selected batch is held out to compare both models.",
    why="A challenger is better only if it wins on the same recent rows that neither model "
    "trained on, with a paired-bootstrap interval on the difference. Without that, "
    "retraining swaps a model you know for one you do not.",
    hints=[
        "Press 8 for Retrain, a to select all new batches, then t to train and compare.",
        "Headless: mlwb retrain --project PROJECT (all labelled batches; the newest is held out).",
    ],
)

_DECIDE = Task(
    id="decide",
    stage=Stage.RETRAIN,
    title="Promote or keep, on the record",
    todo="If the comparison says PROMOTE, promote the challenger; if it says KEEP, the "
    "champion stays and the decision is already recorded.",
    why="Every promotion is an event with its evidence, and the previous production version "
    "is archived, so rollback stays one action. Promoting without a recorded reason leaves "
    "nobody able to explain next month why the model changed.",
    hints=[
        "On Retrain, p promotes the challenger; r rolls back to the previous production.",
        "Headless: mlwb retrain compare --project PROJECT, then mlwb retrain promote.",
    ],
)


def _baseline(example: str) -> Task:
    return Task(
        id="baseline",
        stage=Stage.TRAIN,
        title="Beat the baseline",
        todo="Train at least one real candidate next to the dummy baseline and choose a run "
        "whose cross-validated score on the charter's metric beats the baseline's.",
        why="Every session includes a dummy baseline that ignores the features. A score means "
        f"nothing alone: {example} Without the baseline, a model that learnt nothing can look "
        "fine. Preprocessing is fitted inside each fold, so the folds never see each other.",
        hints=[
            "Press 4 for Train, check a candidate (gradient boosting is a good start), press t.",
            "Compare mean ± std: a win smaller than the fold-to-fold spread is not a win.",
            "Choose the run with c on the leaderboard. Headless: mlwb train --models hgb "
            "--project PROJECT, then mlwb train --choose RUN.",
        ],
    )


def _drift(files: str, how: str, why: str) -> Task:
    return Task(
        id="drift",
        stage=Stage.MONITOR,
        title="Spot the drift",
        todo=f"Add the lesson batches ({files}, in {{batches}}) {how}, find the batch "
        "flagged WARN or ALERT, read why, and record a decision on it.",
        why="Monitoring compares each batch with the training baseline stored in the bundle: "
        "drift per feature with an effect size, missing rates, unseen categories, and the "
        "charter's metric once labels arrive. The thresholds follow the batch size, so a "
        f"big batch does not flag every feature and a small one does not hide a real shift. {why}",
        hints=[
            "Press 7 for Monitor, a to add a batch file; give the label column so performance "
            "is measured too.",
            "The Features view (f) ranks drifted features by effect size; r shows the "
            "recommendation.",
            "Record what you decide with d (retrain, inspect or accept). Headless: mlwb "
            "monitor add FILE --label-column TARGET, then mlwb monitor decide BATCH retrain.",
        ],
    )


ADULT = Lesson(
    name="adult",
    dataset="adult",
    title="Who earns over 50K: a premium-card campaign",
    tasks=[
        Task(
            id="kpi",
            stage=Stage.PROBLEM,
            title="Define the KPI",
            todo="Save a charter: binary classification of income with >50K as the positive "
            "class, a primary metric that suits a rare class, a success threshold and a "
            "minimum recall.",
            why="The charter's metric sorts the leaderboard, sets the gate and the monitoring "
            "alerts. One person in four earns over 50K, so 'always say no' is 76 % accurate: "
            "accuracy would call a useless model good. F1 (or recall, balanced accuracy) only "
            "rewards finding the >50K people. Without a threshold, nobody can say when a "
            "model is good enough to ship.",
            hints=[
                "Press 1 for Problem, fill in the form and save with ctrl+s.",
                "Task binary, target income, positive class >50K.",
                "Metric f1 with threshold 0.65, and the constraint recall >= 0.6.",
                "Headless: mlwb problem set --task binary --target income --positive-class "
                "'>50K' --metric f1 --threshold 0.65 --objective '...' --project PROJECT.",
            ],
        ),
        Task(
            id="spaces",
            stage=Stage.DATA,
            title="Make the data fit the charter",
            todo="The file separates values with ', ', so every text starts with a space and "
            "' >50K' is not the charter's '>50K'. Add a step that trims the spaces.",
            why="Trimming is a row-wise recipe step: the predictor bundle replays it on every "
            "new row, so training and production see the same values. Without it the "
            "positive class is never found and every category carries an invisible space "
            "that a tidier source will not send.",
            hints=[
                "Press 2 for Data; the stepper shows why Data needs attention.",
                "Press a to add a step and choose trim_whitespace; the preview shows what "
                "changes before it is applied.",
                'Headless: mlwb data step add \'{"kind": "trim_whitespace"}\' --project PROJECT.',
            ],
        ),
        Task(
            id="markers",
            stage=Stage.DATA,
            title="Fix the ? markers",
            todo="workclass, occupation and native-country write '?' for unknown. Turn the "
            "marker into real missing values.",
            why="A '?' is read as a category, so the model learns that '?' is a kind of job, "
            "and missing-value counts, imputation and monitoring never see the gaps. As "
            "missing values they are counted, imputed inside each cross-validation fold, and "
            "the bundle turns '?' into missing on new rows too.",
            hints=[
                "The Suggestions list on Data proposes the fix for '?' markers.",
                "Press a and choose null_markers with the marker ?.",
                'Headless: mlwb data step add \'{"kind": "null_markers", "markers": ["?"]}\' '
                "--project PROJECT.",
            ],
        ),
        _PROFILE,
        Task(
            id="duplicates",
            stage=Stage.EXPLORE,
            title="Drop the duplicate rows",
            todo="The profile reports exact duplicate rows. Remove them with a recipe step, "
            "then profile the new version.",
            why="Duplicates can land on both sides of the train/holdout split, so the holdout "
            "measures memory instead of generalisation, and they count some people twice. "
            "Dropping duplicates changes the training data only: a bundle never drops rows "
            "it is asked to score.",
            hints=[
                "On Explore, the duplicates alert says how many rows repeat; Enter opens the fix.",
                "On Data, a adds drop_duplicates.",
                'Headless: mlwb data step add \'{"kind": "drop_duplicates"}\' --project PROJECT.',
            ],
        ),
        _baseline(
            "on adult, 'always <=50K' is 76 % accurate and has an F1 of 0, so only a clear "
            "margin over it shows the model found the >50K people."
        ),
        _GATE,
        _DEPLOY,
        _drift(
            "the next mailing list and a partner's list",
            "with their labels (label column income)",
            "The partner's customers are all 50 or older: the model learnt from a younger, "
            "poorer population, and its errors change with it.",
        ),
        _CHALLENGER,
        _DECIDE,
    ],
)

BIKES = Lesson(
    name="bikes",
    dataset="bikes",
    title="Bike rentals per hour: forecast demand",
    tasks=[
        Task(
            id="kpi",
            stage=Stage.PROBLEM,
            title="Define the KPI",
            todo="Save a charter: regression of cnt with dteday as the time column, a primary "
            "metric and a success threshold.",
            why="The charter's metric sorts the leaderboard, sets the gate and the monitoring "
            "alerts. The time column makes the split time-ordered: the holdout is the latest "
            "period. Without it, a random split lets the model learn from the days after the "
            "ones it predicts, and the score flatters it. Demand grows (2012 has 60 % more "
            "riders than 2011), so an error in bikes per hour that 2011 met no model of 2012 "
            "can meet; R², the share of the hour-to-hour variation explained, keeps its "
            "meaning as the business grows.",
            hints=[
                "Press 1 for Problem, fill in the form and save with ctrl+s.",
                "Task regression, target cnt, time column dteday.",
                "Metric r2 with threshold 0.75.",
                "Headless: mlwb problem set --task regression --target cnt --time-column "
                "dteday --metric r2 --threshold 0.75 --objective '...' --project PROJECT.",
            ],
        ),
        Task(
            id="instant-id",
            stage=Stage.DATA,
            title="Mark instant as a row ID",
            todo="instant numbers the hours from 1. Give it the role id so it is not a feature.",
            why="A running number is a clock. As a feature the model learns 'later means more "
            "rentals' from it, and on 2012 rows every value lies beyond anything it saw, so "
            "trees repeat the last value they knew and the contract flags every row as out of "
            "range. As an ID it stays useful: the key that joins labels arriving later.",
            hints=[
                "Press 2 for Data, move to the instant column and press o until its role is id.",
                "Headless: mlwb data roles --set instant=id --project PROJECT.",
            ],
        ),
        _PROFILE,
        Task(
            id="leakage",
            stage=Stage.EXPLORE,
            title="Find the leakage columns",
            todo="Two columns add up to the target exactly. Find them (correlations, target "
            "tab) and drop both, or give them the role ignore.",
            why="casual + registered = cnt in every row. Both are counted at the end of the "
            "hour, together with cnt, so they are unknown when the forecast is made. A model "
            "that uses them scores almost perfectly in cross-validation and is useless in "
            "production.",
            hints=[
                "On Explore, the correlations with cnt near 1.0 are the suspects.",
                "Check it in Data with a filter such as casual + registered != cnt: no rows.",
                'Headless: mlwb data step add \'{"kind": "drop_columns", "columns": '
                '["casual", "registered"]}\' --project PROJECT.',
            ],
        ),
        _baseline(
            "the baseline predicts the average hour (an R² of about 0), so only a clear margin "
            "over it shows the model learnt the daily and weekly rhythm."
        ),
        _GATE,
        _DEPLOY,
        _drift(
            "the 2012 months, January to June",
            "in order, each with label column cnt and key instant",
            "2012 has far more riders than 2011: the model trained on 2011 falls behind.",
        ),
        _CHALLENGER,
        _DECIDE,
    ],
)

LESSONS: dict[str, Lesson] = {ADULT.name: ADULT, BIKES.name: BIKES}
