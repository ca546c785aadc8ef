"""Quality filtering: heuristic rules (Gopher, C4, FineWeb), fastText models and a hashed classifier.

Re-exports only; each capability lives in its own module of this package.
"""

from tamis.quality.classifier import HashedClassifier, HashedFeatures, score_table
from tamis.quality.fasttext import FastTextModel
from tamis.quality.preselect import bits_per_character, label_by_strength, predictive_strength
from tamis.quality.rules import (
    FAMILIES,
    QualityRules,
    RuleDecisions,
    apply_rules,
    rule_sentences,
    rule_words,
)
from tamis.quality.target import classifier_select

__all__: list[str] = [
    "FAMILIES",
    "FastTextModel",
    "HashedClassifier",
    "HashedFeatures",
    "QualityRules",
    "RuleDecisions",
    "apply_rules",
    "bits_per_character",
    "classifier_select",
    "label_by_strength",
    "predictive_strength",
    "rule_sentences",
    "rule_words",
    "score_table",
]
