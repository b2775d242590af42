"""Corpus statistics: readers, exact document co-occurrence counts (local / Ray / infini-gram), AUC.

See docs/corpus.md for the matching rules, the engines and the output files.
"""

from pivotlens.corpus.auc import PairAUC, auc_table, write_auc_report
from pivotlens.corpus.counting import (
    CountConfig,
    CountPlan,
    PartialCounts,
    count_batch,
    count_shard,
    make_plan,
    plan_counts,
    run_local,
    run_ray,
    sample_priority,
)
from pivotlens.corpus.matching import Term, TermMatcher, rule_for
from pivotlens.corpus.readers import (
    BUNDLED,
    Document,
    RecordFields,
    Shard,
    bundled_corpus_path,
    read_corpus,
    read_shard,
    resolve_corpus,
)
from pivotlens.corpus.results import CountResult, count, read_pair_counts
from pivotlens.text import normalize

__all__ = [
    "BUNDLED", "CountConfig", "CountPlan", "CountResult", "Document", "PairAUC",
    "PartialCounts", "RecordFields", "Shard", "Term", "TermMatcher", "auc_table", "bundled_corpus_path", "count",
    "count_batch", "count_shard", "make_plan", "normalize", "plan_counts", "read_corpus",
    "read_pair_counts", "read_shard", "resolve_corpus", "rule_for", "run_local", "run_ray", "sample_priority",
    "write_auc_report",
]
