#!/usr/bin/env python3
"""Standard text classifiers on the YouTube Spam Collection, beside commentd's spam model.

docs/SPAM_QUALITY.md ("Standard classifiers on the same splits") quotes this script's output. It
answers two questions the evaluation test cannot: does any one standard classifier reach the best
published MCC on every video under protocol (a), and would a batch model beside the count model
rank comments better under protocol (b)? It is a measurement, not part of the service, and needs
scikit-learn (Debian: apt-get install python3-sklearn; the figures in the docs came from
scikit-learn 1.2.1, NumPy 1.24.2, Python 3.11).

    python3 docs/spam_baselines.py ../shared/data/youtube-spam

With the shipped model's scores, written by

    SPAM_SCORES=/tmp/scores go test -tags spamvariants -count=1 -run TestExportScores ./internal/spam/

it also mixes them with a tree ensemble's probabilities:

    python3 docs/spam_baselines.py ../shared/data/youtube-spam --scores /tmp/scores

The data is read as commentd reads it (internal/spam/eval.go): CONTENT and CLASS only, with U+FEFF
removed, because the other columns and U+FEFF leak the label. The splits are the evaluation's:
(a) the first 70 % of each video's spam rows and of its ham rows, in file order, train, and the
rest test; (b) train on four videos, score the fifth. Every classifier is seeded, so a rerun with
the same library versions prints the same figures.
"""

import argparse
import csv
import glob
import math
import os
import sys
import warnings

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import matthews_corrcoef, roc_auc_score
from sklearn.naive_bayes import BernoulliNB, MultinomialNB
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import SVC, LinearSVC

# The best MCC published per video (the targets); each is the best of several classifiers.
PUBLISHED = {"Psy": 0.925, "KatyPerry": 0.893, "LMFAO": 0.955, "Eminem": 0.955, "Shakira": 0.931}

# The targets of protocol (b), used to find the least moderator load a score allows.
MAX_SPAM_PUBLISHED, MAX_HAM_LOST = 0.02, 0.005


def read_videos(data_dir):
    videos = []
    for path in sorted(glob.glob(os.path.join(data_dir, "*.csv"))):
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        name = os.path.basename(path)[:-4].split("-", 1)[1]
        texts = [r["CONTENT"].replace("\ufeff", "") for r in rows]
        labels = [int(r["CLASS"]) for r in rows]
        videos.append((name, texts, labels))
    if len(videos) != 5:
        sys.exit(f"{data_dir}: found {len(videos)} CSV files, want the 5 videos")
    return videos


def go_round(x):
    # Go's math.Round (half away from zero), which SplitByClass uses; Python's round() rounds
    # half to even.
    return int(math.floor(x + 0.5))


def split(texts, labels, share=0.7):
    """The evaluation's split: SplitByClass in internal/spam/evaluation_test.go."""
    n_spam = sum(labels)
    cut = {1: go_round(share * n_spam), 0: go_round(share * (len(labels) - n_spam))}
    seen = {0: 0, 1: 0}
    tr_x, tr_y, te_x, te_y = [], [], [], []
    for x, y in zip(texts, labels):
        if seen[y] < cut[y]:
            tr_x.append(x)
            tr_y.append(y)
        else:
            te_x.append(x)
            te_y.append(y)
        seen[y] += 1
    return tr_x, tr_y, te_x, te_y


def words_and_chars():
    return make_union(
        TfidfVectorizer(sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    )


FEATURES = [
    ("word counts", lambda: CountVectorizer()),
    ("word presence", lambda: CountVectorizer(binary=True)),
    ("word 1-2-gram counts", lambda: CountVectorizer(ngram_range=(1, 2))),
    ("tf-idf words", lambda: TfidfVectorizer(sublinear_tf=True)),
    ("tf-idf word 1-2-grams", lambda: TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
    ("tf-idf char 2-5 in words", lambda: TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
    ("tf-idf char 3-5", lambda: TfidfVectorizer(analyzer="char", ngram_range=(3, 5), sublinear_tf=True)),
    ("tf-idf words + char 2-5", words_and_chars),
]

CLASSIFIERS = [
    ("logistic C=1", lambda: LogisticRegression(C=1, max_iter=3000)),
    ("logistic C=10", lambda: LogisticRegression(C=10, max_iter=3000)),
    ("logistic C=100", lambda: LogisticRegression(C=100, max_iter=3000)),
    ("linear SVM C=0.1", lambda: LinearSVC(C=0.1)),
    ("linear SVM C=1", lambda: LinearSVC(C=1)),
    ("RBF SVM C=10", lambda: SVC(C=10)),
    ("multinomial NB", lambda: MultinomialNB()),
    ("multinomial NB a=0.1", lambda: MultinomialNB(alpha=0.1)),
    ("Bernoulli NB", lambda: BernoulliNB()),
    ("random forest 300", lambda: RandomForestClassifier(n_estimators=300, random_state=0)),
    ("extra trees 300", lambda: ExtraTreesClassifier(n_estimators=300, random_state=0)),
]

# Tree ensembles vary with their seed; these rows show by how much, on the strongest features.
SEEDED = [
    (f"{kind} 300, seed {seed}", words_and_chars, make)
    for seed in range(1, 5)
    for kind, make in [
        ("random forest", lambda seed=seed: RandomForestClassifier(n_estimators=300, random_state=seed)),
        ("extra trees", lambda seed=seed: ExtraTreesClassifier(n_estimators=300, random_state=seed)),
    ]
]


def protocol_a(videos):
    print("## (a) per video, 70/30: MCC at a probability (or decision) threshold of 0.5\n")
    names = [v[0] for v in videos]
    print("| features | classifier | " + " | ".join(names) + " | mean | videos at or above the published best |")
    print("|---" * (len(names) + 4) + "|")
    splits = [split(t, l) for _, t, l in videos]
    rows = [(f, fm, c, cm) for f, fm in FEATURES for c, cm in CLASSIFIERS]
    rows += [("tf-idf words + char 2-5", fm, c, cm) for c, fm, cm in SEEDED]
    all_five = 0
    for feat, make_feat, clf, make_clf in rows:
        mccs = []
        for tr_x, tr_y, te_x, te_y in splits:
            model = make_pipeline(make_feat(), make_clf())
            model.fit(tr_x, tr_y)
            mccs.append(matthews_corrcoef(te_y, model.predict(te_x)))
        met = sum(m >= PUBLISHED[n] for m, n in zip(mccs, names))
        all_five += met == len(names)
        cells = " | ".join(f"**{m:.3f}**" if m >= PUBLISHED[n] else f"{m:.3f}" for m, n in zip(mccs, names))
        print(f"| {feat} | {clf} | {cells} | {np.mean(mccs):.3f} | {met} |", flush=True)
    print(f"\n{len(rows)} configurations; {all_five} at or above the published best on all five videos.\n")


def least_load(scores, labels):
    """The least share held for review with spam published and ham lost within their targets.

    Scores under the hold threshold are published, scores from the spam threshold up are marked
    spam. As in ChooseThresholds (internal/spam/evaluation_test.go), the spam threshold lets through as many
    ham as the ham-lost target allows and the hold threshold publishes as many spam as the
    spam-published target allows.
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    ham = np.sort(scores[labels == 0])[::-1]
    spam = np.sort(scores[labels == 1])
    spam_at = np.nextafter(ham[int(MAX_HAM_LOST * len(ham))], np.inf)
    hold_at = spam[int(MAX_SPAM_PUBLISHED * len(spam))]
    held = (scores >= hold_at) & (scores < spam_at)
    return held.mean()


def leave_one_out(videos, make_model):
    scores, labels = [], []
    for i, (_, texts, labs) in enumerate(videos):
        tr_x, tr_y = [], []
        for j, (_, t, l) in enumerate(videos):
            if j != i:
                tr_x += t
                tr_y += l
        model = make_model()
        model.fit(tr_x, tr_y)
        scores += list(model.predict_proba(texts)[:, 1])
        labels += labs
    return np.array(scores), np.array(labels)


def read_scores(path, expect):
    scores = []
    with open(path) as f:
        for line, y in zip(f, expect):
            video, row, label, score = line.split("\t")
            if (label == "true") != bool(y):
                sys.exit(f"{path}: video {video} row {row} has another label than the data: "
                         "were the scores written from the same data?")
            scores.append(float(score))
    if len(scores) != len(expect):
        sys.exit(f"{path}: {len(scores)} scores, want {len(expect)}")
    return np.array(scores)


def protocol_b(videos, go_prefix):
    print("## (b) leave one video out: how well each model ranks the held-out comments\n")
    print("AUC of the pooled scores, and the least moderator load at which spam published stays "
          "within 2 % and ham lost within 0.5 %, thresholds chosen on those same scores (optimistic).\n")
    print("| model | AUC | least load |")
    print("|---|---|---|")
    models = [
        ("logistic C=100, tf-idf words + char 2-5",
         lambda: make_pipeline(words_and_chars(), LogisticRegression(C=100, max_iter=3000))),
        ("random forest 300, tf-idf words + char 2-5",
         lambda: make_pipeline(words_and_chars(), RandomForestClassifier(n_estimators=300, random_state=0))),
        ("extra trees 300, tf-idf words + char 2-5",
         lambda: make_pipeline(words_and_chars(), ExtraTreesClassifier(n_estimators=300, random_state=0))),
    ]
    results = {}
    for name, make in models:
        scores, labels = leave_one_out(videos, make)
        results[name] = scores
        print(f"| {name} | {roc_auc_score(labels, scores):.4f} | {100 * least_load(scores, labels):.1f} % |", flush=True)
    if not go_prefix:
        print()
        return
    trees = results["extra trees 300, tf-idf words + char 2-5"]
    go_b = read_scores(go_prefix + ".b.tsv", labels)
    print(f"| commentd's stacked model | {roc_auc_score(labels, go_b):.4f} | {100 * least_load(go_b, labels):.1f} % |")
    for w in (0.3, 0.5, 0.7):
        mix = w * go_b + (1 - w) * trees
        print(f"| {w:.1f} × stacked + {1 - w:.1f} × extra trees | {roc_auc_score(labels, mix):.4f} | "
              f"{100 * least_load(mix, labels):.1f} % |")
    print()

    print("## (a) again, the stacked model mixed with the extra trees (seed 0) at a threshold of 0.5\n")
    names = [v[0] for v in videos]
    print("| mix | " + " | ".join(names) + " | mean |")
    print("|---" * (len(names) + 2) + "|")
    splits = [split(t, l) for _, t, l in videos]
    trees_a, labels_a = [], []
    for tr_x, tr_y, te_x, te_y in splits:
        model = make_pipeline(words_and_chars(), ExtraTreesClassifier(n_estimators=300, random_state=0))
        model.fit(tr_x, tr_y)
        trees_a.append(model.predict_proba(te_x)[:, 1])
        labels_a.append(te_y)
    go_a = read_scores(go_prefix + ".a.tsv", [y for ys in labels_a for y in ys])
    for w in (1.0, 0.7, 0.5, 0.3, 0.0):
        mccs, at = [], 0
        for t, y in zip(trees_a, labels_a):
            mix = w * go_a[at:at + len(y)] + (1 - w) * t
            at += len(y)
            mccs.append(matthews_corrcoef(y, mix > 0.5))
        cells = " | ".join(f"**{m:.3f}**" if m >= PUBLISHED[n] else f"{m:.3f}" for m, n in zip(mccs, names))
        print(f"| {w:.1f} × stacked + {1 - w:.1f} × extra trees | {cells} | {np.mean(mccs):.3f} |")
    print()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data", help="the YouTube Spam Collection's directory (five CSV files)")
    p.add_argument("--scores", help="the prefix SPAM_SCORES was given (see above)")
    args = p.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    videos = read_videos(args.data)
    protocol_a(videos)
    protocol_b(videos, args.scores)


if __name__ == "__main__":
    main()
