"""Propose a group scheme from the label texts alone (`catsplit groups propose`), for a person to review.

Two labels belong together when they differ only in *modifiers* (a rotation count, a body shape, a
direction of motion, an optional phrase such as "with 1 turn") while sharing the rest, their *head*.
Which words are modifiers is learnt from the label set itself, not listed:

1. Minimal pairs. Labels are lower-cased words (numbers such as "1.5" are words); a leading bracketed
   tag ("(FX) ...", "(BB) ...": an apparatus, a domain, a source) is a namespace, and only labels of one
   namespace are compared. A minimal pair is two labels whose words differ in one place by at most one
   word on each side ("... stretched salto ..." / "... piked salto ...", "salto ..." / "double salto ..."),
   except a swap of the first word: that is a change of head ("Pushing something onto something" /
   "Pulling something onto something"), whatever the encoder says.
2. Modifier words: words that are swapped in minimal pairs at least `swap_rate` times per label that
   holds them (a free choice, not a main axis of the vocabulary: "backward"/"forward" swap about once
   per four labels in FineGym-Split, the rotation counts more than once per label), in at least
   `min_pairs` pairs, whose pairs' texts stay close in the text encoder's space (mean cosine >=
   `modifier_similarity`: SSv2's prepositions "behind"/"onto" swap at ~0.8, FineGym's body shapes at
   0.77-0.84, its rotation counts at ~0.97; verbs swapped after "Pretending to" at 0.62-0.65).
3. Optional phrases: with the modifier words removed, a phrase of at most `optional_words` words that
   some labels have and otherwise equal labels lack ("with turn", "in side position"), seen in at least
   `optional_contexts` different contexts, its pairs again at mean cosine >= `modifier_similarity`. A
   word swapped with modifier words becomes such a phrase too ("stretched", once "tucked" and "piked"
   are modifier words): a modifier's paradigm is closed.
4. Each label's skeleton is its words less modifier words and optional phrases. Labels whose skeletons
   share their first `min_words` words (extended past function words; the namespace does not count)
   form a group; a group over `max_size` labels is split by one more word, recursively. SSv2's groups
   are of this kind already ("Pushing something" + "from left to right"), FineGym's once the modifiers
   are gone ("(FX) double salto backward tucked with 1 twist" -> "(FX) salto backward").
5. Labels still alone join a group or each other by average-linkage cosine of their embeddings while it
   is at least `join_threshold`, within a namespace; two groups of step 4 are never merged. ("Squeezing
   something" joins "Pretending to squeeze something".)

Without an encoder steps 2, 3 and 5 are skipped: shared leading words only. Labels still alone are
groups of one. Group names are the members' common leading words, else the leading skeleton words most
of them share, else the member texts joined by " and ".

What it finds, scored against the authors' hand-made schemes (which no rule over texts reproduces on
FineGym-Split: the authors group floor saltos by direction and beam saltos by shape), is measured by
`python -m benchmarks.proposer` (benchmarks/results/proposer.md), with the settings' defaults chosen
there. `pairwise_agreement` is that score: precision, recall and F1 of same-group label pairs.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import Iterator, Mapping, Sequence

import numpy as np

from catsplit.compiler.groups import _EDGE_PUNCT, FUNCTION_WORDS, _back_off, _common_prefix, _words

_TAG = re.compile(r"\s*(\([^()]*\))\s*\S")
_WORD = re.compile(r"[^\W_]+(?:[.'][^\W_]+)*")

Words = tuple[str, ...]


@dataclass(frozen=True)
class ProposerSettings:
    """The proposer's settings (module docstring); the defaults are the setting tuned on SSv2-Split and
    tested on FineGym-Split by `python -m benchmarks.proposer`."""

    min_words: int = 2                  # skeleton words (past the namespace) a group's labels share
    max_size: int = 9                   # a word group larger than this is split by one more word
    join_threshold: float = 0.7         # cosine at which leftover labels join a group or each other
    modifier_similarity: float = 0.75   # mean cosine of the minimal pairs of a modifier word or phrase
    swap_rate: float = 0.5              # minimal pairs per label holding a word, for a modifier word
    optional_contexts: int = 3          # different contexts an optional phrase is seen missing from
    optional_words: int = 3             # longest optional phrase
    min_pairs: int = 2                  # minimal pairs a modifier word needs (one pair is no pattern)


@dataclass(frozen=True)
class Modifiers:
    """What step 2 and 3 learnt from a label set: the modifier words and the optional phrases."""

    words: frozenset[str]
    phrases: frozenset[Words]

    def skeleton(self, words: Words) -> Words:
        """`words` less modifier words and optional phrases (longest first; never all of them)."""
        out = tuple(w for w in words if w not in self.words)
        for phrase in sorted(self.phrases, key=len, reverse=True):
            out = _remove_phrase(out, phrase)
        return out


NO_MODIFIERS = Modifiers(frozenset(), frozenset())


def namespace(label: str) -> str:
    """The label's leading bracketed tag, lower-cased ("" without one)."""
    m = _TAG.match(label)
    return m.group(1).lower() if m else ""


def label_words(label: str) -> Words:
    """The label's lower-cased words after its namespace tag ("round-off," -> "round", "off")."""
    m = _TAG.match(label)
    return tuple(_WORD.findall((label[m.end(1):] if m else label).lower()))


def differing_spans(a: Words, b: Words) -> tuple[int, Words, Words]:
    """(p, a', b'): a and b share their first p words and the words after a' / b' (one contiguous edit)."""
    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    s = 0
    while s < min(len(a), len(b)) - p and a[-1 - s] == b[-1 - s]:
        s += 1
    return p, a[p:len(a) - s], b[p:len(b) - s]


def _remove_phrase(words: Words, phrase: Words) -> Words:
    n = len(phrase)
    i = 0
    while len(words) > n and i <= len(words) - n:
        if words[i:i + n] == phrase:
            words = words[:i] + words[i + n:]
        else:
            i += 1
    return words


def _same_space_pairs(spaces: Sequence[str]) -> Iterator[tuple[int, int]]:
    by_space: dict[str, list[int]] = defaultdict(list)
    for i, ns in enumerate(spaces):
        by_space[ns].append(i)
    for members in by_space.values():
        yield from combinations(members, 2)


def learn_modifiers(words: Sequence[Words], spaces: Sequence[str], emb: np.ndarray,
                    settings: ProposerSettings) -> Modifiers:
    """Steps 2 and 3 of the module docstring, over labels' words, namespaces and unit embeddings."""
    pairs = list(_same_space_pairs(spaces))
    count: dict[str, int] = defaultdict(int)
    for ws in words:
        for w in set(ws):
            count[w] += 1
    cos: dict[str, list[float]] = defaultdict(list)
    for i, j in pairs:
        p, a, b = differing_spans(words[i], words[j])
        if len(a) <= 1 and len(b) <= 1 and a != b and not (p == 0 and a and b):
            for w in {*a, *b}:
                cos[w].append(float(emb[i] @ emb[j]))
    mod_words = frozenset(w for w, c in cos.items() if len(c) >= max(settings.min_pairs, settings.swap_rate * count[w])
                          and np.mean(c) >= settings.modifier_similarity)
    return Modifiers(mod_words, _optional_phrases(words, pairs, emb, mod_words, settings))


def _optional_phrases(words: Sequence[Words], pairs: Sequence[tuple[int, int]], emb: np.ndarray,
                      mod_words: frozenset[str], settings: ProposerSettings) -> frozenset[Words]:
    stripped = [tuple(w for w in ws if w not in mod_words) for ws in words]
    contexts: dict[Words, set[Words]] = defaultdict(set)
    cos: dict[Words, list[float]] = defaultdict(list)
    for i, j in pairs:
        p, a, b = differing_spans(stripped[i], stripped[j])
        if bool(a) != bool(b) and len(a or b) <= settings.optional_words:
            phrase = a or b
            contexts[phrase].add(stripped[i][:p] + stripped[i][p + len(a):])
            cos[phrase].append(float(emb[i] @ emb[j]))
    return frozenset(ph for ph, ctx in contexts.items()
                     if len(ctx) >= settings.optional_contexts and np.mean(cos[ph]) >= settings.modifier_similarity)


def _key(skeleton: Words, n: int) -> Words:
    """The first n skeleton words, extended so that they end on a content word ("pretending to put",
    not "pretending to"): the head a label shares with the labels of its group."""
    n = min(n, len(skeleton))
    while n < len(skeleton) and skeleton[n - 1] in FUNCTION_WORDS:
        n += 1
    return skeleton[:n]


def _by_prefix(items: Sequence[int], skeletons: Sequence[Words], spaces: Sequence[str], n: int,
               max_size: int) -> list[list[int]]:
    """Group items by namespace and skeleton key of n words; a group over max_size is split by longer keys."""
    by_key: dict[tuple[str, Words], list[int]] = defaultdict(list)
    for i in items:
        by_key[spaces[i], _key(skeletons[i], n)].append(i)
    out = []
    for (_, key), members in by_key.items():
        longer = max(len(_key(skeletons[i], len(key) + 1)) for i in members)
        if len(members) > max_size and longer > len(key):
            out += _by_prefix(members, skeletons, spaces, len(key) + 1, max_size)
        else:
            out.append(members)
    return out


def _name(members: Sequence[str], skeletons: Sequence[Words]) -> str:
    """A readable group name: the members' common base, else the head most of their skeletons share
    (after the namespace tag), else their texts joined (as SSv2-Split does)."""
    if len(members) == 1:
        return members[0]
    words = [_words(y) for y in members]
    n = _back_off(words[0], _common_prefix(words))
    if n >= 2:
        return " ".join(words[0][:n]).rstrip(_EDGE_PUNCT)
    head = _majority_head(skeletons)
    if head:
        tag = _TAG.match(members[0])
        return " ".join(([tag.group(1)] if tag else []) + list(head))
    return " and ".join(members)


def _majority_head(skeletons: Sequence[Words]) -> Words:
    """The longest leading words (two or more, not ending on a function word) that more than half of
    the skeletons share; () if none."""
    head: Words = ()
    for n in range(2, max(len(s) for s in skeletons) + 1):
        common = Counter(s[:n] for s in skeletons if len(s) >= n).most_common(1)
        if not common or 2 * common[0][1] <= len(skeletons):
            break
        if common[0][0][-1] not in FUNCTION_WORDS:
            head = common[0][0]
    return head


def unit_embeddings(labels: Sequence[str], encoder) -> np.ndarray:
    """The labels' text embeddings, scaled to unit length (cosine = dot product)."""
    emb = np.asarray(encoder.encode(list(labels)), np.float64)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def propose_groups(labels: Sequence[str], encoder=None,
                   settings: ProposerSettings = ProposerSettings()) -> dict[str, list[str]]:
    """Suggest a group scheme for `labels` (module docstring), for a person to review."""
    labels = list(dict.fromkeys(labels))
    words = [label_words(y) for y in labels]
    spaces = [namespace(y) for y in labels]
    emb = unit_embeddings(labels, encoder) if encoder is not None and len(labels) > 1 else None
    mods = NO_MODIFIERS if emb is None else learn_modifiers(words, spaces, emb, settings)
    skeletons = [mods.skeleton(ws) for ws in words]
    groups = _by_prefix(range(len(labels)), skeletons, spaces, settings.min_words, settings.max_size)
    clusters = [([labels[i] for i in g], len(g) > 1) for g in groups]  # (members, grouped by words)
    if emb is not None:
        clusters = _join_by_embedding(clusters, labels, emb, settings.join_threshold,
                                      [namespace(ms[0]) for ms, _ in clusters])
    order = {y: i for i, y in enumerate(labels)}
    scheme: dict[str, list[str]] = {}
    for members, _ in sorted(clusters, key=lambda c: min(order[y] for y in c[0])):
        members = sorted(members, key=order.__getitem__)
        name = base = _name(members, [skeletons[order[y]] for y in members])
        n = 2
        while name in scheme:
            name, n = f"{base} ({n})", n + 1
        scheme[name] = members
    return scheme


def _join_by_embedding(clusters: list[tuple[list[str], bool]], labels: Sequence[str], emb: np.ndarray,
                       threshold: float, namespaces: Sequence[str]) -> list[tuple[list[str], bool]]:
    """Step 5: average-linkage merging over unit embeddings `emb` (rows in `labels` order)."""
    row = {y: i for i, y in enumerate(labels)}
    onehot = np.zeros((len(clusters), len(labels)))
    for i, (members, _) in enumerate(clusters):
        onehot[i, [row[y] for y in members]] = 1
    total = onehot @ (emb @ emb.T) @ onehot.T  # summed similarity between clusters' members
    size = onehot.sum(1)
    fixed = np.array([f for _, f in clusters])
    space = np.asarray(namespaces, dtype=object)
    apart = space[:, None] != space[None, :]
    members = [list(m) for m, _ in clusters]
    alive = np.ones(len(clusters), bool)
    while True:
        link = total / np.outer(size, size)  # average linkage
        blocked = ~np.outer(alive, alive) | np.outer(fixed, fixed) | apart | np.eye(len(size), dtype=bool)
        link[blocked] = -np.inf
        i, j = np.unravel_index(np.argmax(link), link.shape)
        if link[i, j] < threshold:
            return [(members[k], bool(fixed[k])) for k in np.flatnonzero(alive)]
        total[i] += total[j]
        total[:, i] += total[:, j]
        size[i] += size[j]
        fixed[i] |= fixed[j]
        members[i] += members[j]
        alive[j] = False


def pairwise_agreement(proposed: Mapping[str, Sequence[str]], reference: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Pairwise precision, recall and F1 of "same group" decisions over the labels both schemes cover."""
    def pairs(scheme):
        out = set()
        for members in scheme.values():
            ms = sorted(set(members) & common)
            out.update((a, b) for i, a in enumerate(ms) for b in ms[i + 1:])
        return out

    common = {y for m in proposed.values() for y in m} & {y for m in reference.values() for y in m}
    p, r = pairs(proposed), pairs(reference)
    hit = len(p & r)
    precision = hit / len(p) if p else 0.0
    recall = hit / len(r) if r else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hit else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
