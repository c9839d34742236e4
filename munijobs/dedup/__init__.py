"""Deduplication: which postings are one ad. Pure functions, no database and no Scrapy (storage/clusters.py persists).

* `links`: ids of other sources carried in URLs and text (strong links);
* `features`: boilerplate-stripped text, word shingles, MinHash signatures, LSH band keys, the fields compared;
* `match`: the verdict on one pair of postings;
* `cluster`: postings into ads, stable ad ids, the posting that represents an ad.
"""

from munijobs.dedup.cluster import Clustering, assign_ad_ids, choose_representatives, cluster
from munijobs.dedup.features import Derived, Features, candidate_pairs, derive, features_of, keys_of
from munijobs.dedup.links import link_keys
from munijobs.dedup.match import Verdict, compare

__all__ = [
    "Clustering",
    "Derived",
    "Features",
    "Verdict",
    "assign_ad_ids",
    "candidate_pairs",
    "choose_representatives",
    "cluster",
    "compare",
    "derive",
    "features_of",
    "keys_of",
    "link_keys",
]
