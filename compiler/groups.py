"""Group schemes and modifier texts (docs/method.md §1).

A group scheme maps a group name to the fine labels that share a base concept. It lives in bundle.json
(`groups`) or in a JSON file: the scheme itself, `{"group_scheme": {...}}` (the SSv2-Split data file), or
a bundle.json whose `groups` it takes.

A label's modifier text is what distinguishes it inside its group. `derive_modifier` strips the label's
base: its longest leading words shared with the group name, or with the common leading words of the
whole group (the label and its siblings). Words are compared lower-cased without surrounding
punctuation. The base never ends on a function word ("on", "a", "so", ...): those words belong to the
modifier ("on the edge of something ...", not "the edge of something ..."). The group-name base does
not apply to a label that the group name contains whole (the label *is* one of the group's concepts:
"Closing something" in "Closing something and Opening something"); the longest base that leaves some
words is used, and when none does, the modifier is the label itself. Examples from SSv2:

    Pushing something from left to right   in "Pushing something"                     -> from left to right
    Putting something behind something     in "Putting something with spatial relation" -> behind something
    Lifting something up completely, then letting it drop down
                                           in "Lifting something up completely"     -> then letting it drop down

`propose_groups` suggests a scheme for labels that have none (for the user to review), see its docstring.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from catsplit.compiler.errors import CompileError
from catsplit.runtime.bundle import BUNDLE_JSON, Bundle, label_problem, load_bundle
from catsplit.runtime.errors import CatsplitError
from catsplit.runtime.inputs import MIB, read_json
from catsplit.runtime.output import Kind, staged_output

FUNCTION_WORDS = frozenset(
    "a an the to of on in into onto off from with without so that and or but by at as for over under "
    "underneath behind next than then until while like both is are be if".split())
_EDGE_PUNCT = "()[]{},.;:!?\"'"
MAX_SCHEME_BYTES = 16 * MIB


def _norm(word: str) -> str:
    return word.strip(_EDGE_PUNCT).lower()


def _words(text: str) -> list[str]:
    return text.split()


def _common_prefix(seqs: Sequence[Sequence[str]]) -> int:
    """Number of leading normalised words all sequences share."""
    n = min(len(s) for s in seqs)
    for i in range(n):
        w = _norm(seqs[0][i])
        if any(_norm(s[i]) != w for s in seqs[1:]):
            return i
    return n


def _back_off(words: Sequence[str], n: int) -> int:
    """Shorten a base of n words so that it does not end on a function word."""
    while n > 0 and _norm(words[n - 1]) in FUNCTION_WORDS:
        n -= 1
    return n


def derive_modifier(label: str, group_name: str, siblings: Sequence[str]) -> str:
    """The label's modifier text within its group (rule in the module docstring)."""
    words = _words(label)
    bases = []
    named = _common_prefix([words, _words(group_name)])
    if named < len(words):  # a label that the group name spells out whole is one of its concepts
        bases.append(named)
    others = [_words(s) for s in siblings if s != label]
    if others:
        bases.append(_common_prefix([words, *others]))
    for n in sorted({_back_off(words, n) for n in bases}, reverse=True):
        rest = " ".join(words[n:]).lstrip(",;:- ")
        if rest:
            return rest
    return label


def rows_per_group(groups: Mapping[str, Sequence[str]], labels: Sequence[str]) -> dict[str, list[str]]:
    """Each group's labels that are among `labels` (a head's rows), in their order; a group collapsed
    into one row named like the group is that row; a label no group lists is a group of its own."""
    index = {y: i for i, y in enumerate(labels)}
    out: dict[str, list[str]] = {}
    for name, members in groups.items():
        present = sorted({y for y in members if y in index}, key=index.__getitem__)
        if not present and name in index:
            present = [name]
        if present:
            out[name] = present
    covered = {y for ys in out.values() for y in ys}
    out.update({y: [y] for y in labels if y not in covered})
    return out


def modifiers(scheme: Mapping[str, Sequence[str]], labels: Sequence[str] | None = None,
              overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """label -> modifier text for each of `labels` (default: every label the scheme lists): the one
    place a modifier is decided. An override (bundle.json's `modifiers`, a spec's `modifier`) wins;
    otherwise `derive_modifier` from the label's group name and its siblings among `labels`, so the
    modifier `catsplit groups show` prints for a bundle is the one its edits use."""
    if labels is None:
        labels = list(dict.fromkeys(y for members in scheme.values() for y in members))
    overrides = overrides or {}
    return {y: overrides.get(y) or derive_modifier(y, name, rows)
            for name, rows in rows_per_group(scheme, labels).items() for y in rows}


def check_scheme(doc: Any, source: str) -> dict[str, list[str]]:
    """Validate a group scheme: names -> non-empty lists of distinct labels, each label in one group;
    every name and label obeys the bundle's label rule."""
    if not isinstance(doc, dict) or not doc:
        raise CompileError(f"{source}: a group scheme must be a non-empty JSON object of group name -> labels")
    seen: dict[str, str] = {}
    for name, members in doc.items():
        problem = label_problem(name)
        if problem is not None:
            raise CompileError(f"{source}: the group name {name[:80]!r} {problem}")
        if not isinstance(members, list) or not members or not all(isinstance(y, str) and y.strip() for y in members):
            raise CompileError(f"{source}: group {name!r} must list one or more label strings")
        for y in members:
            problem = label_problem(y)
            if problem is not None:
                raise CompileError(f"{source}: group {name!r}: the label {y[:80]!r} {problem}")
            if y in seen:
                where = "twice" if seen[y] == name else f"in both {seen[y]!r} and {name!r}"
                raise CompileError(f"{source}: label {y!r} is listed {where}")
            seen[y] = name
    return {name: list(members) for name, members in doc.items()}


def load_scheme(path: str | os.PathLike) -> dict[str, list[str]]:
    """A group scheme from a JSON file: the scheme, {"group_scheme": scheme} or a bundle.json."""
    doc = read_json(path, "group scheme", MAX_SCHEME_BYTES)
    if isinstance(doc, dict) and isinstance(doc.get("group_scheme"), dict):
        doc = doc["group_scheme"]
    elif isinstance(doc, dict) and doc.get("schema") == "catsplit.bundle":
        doc = doc.get("groups")
        if doc is None:
            raise CompileError(f"{path}: this bundle.json has no group scheme")
    return check_scheme(doc, str(path))


def _scheme_file_problem(path: Path) -> str | None:
    try:
        doc = read_json(path, "group scheme", MAX_SCHEME_BYTES)
    except CatsplitError:
        return "not a readable JSON file"
    return None if isinstance(doc, dict) and set(doc) == {"group_scheme"} else 'not {"group_scheme": ...}'


SCHEME_FILE_KIND = Kind("group scheme file", False, _scheme_file_problem)


def write_scheme(scheme: Mapping[str, Sequence[str]], out: str | os.PathLike, force: bool = False) -> Path:
    """Write {"group_scheme": scheme} to `out` for review (runtime/output.py's rule: a file that is not
    such a scheme is never replaced)."""
    with staged_output(out, SCHEME_FILE_KIND, force) as stage:
        stage.path.write_text(json.dumps({"group_scheme": scheme}, indent=2) + "\n", encoding="utf-8")
    return Path(out)


def resolve_groups(bundle: Bundle | str | os.PathLike, groups_file: str | os.PathLike | None = None) -> dict[str, list[str]]:
    """The group scheme an edit of `bundle` uses: `groups_file` if given, else bundle.json's `groups`.

    Returned as written (labels of other label spaces included: SSv2-Split's scheme lists all 174 fine
    labels, a mixed-granularity head has some groups collapsed into one row named like the group). It
    must name at least one of the bundle's labels, as a member or as a group name.
    """
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle, verify=False)
    if groups_file is not None:
        scheme, source = load_scheme(groups_file), str(groups_file)
    elif bundle.groups is not None:
        source = str(bundle.path / BUNDLE_JSON)
        scheme = check_scheme(bundle.groups, source)
    else:
        raise CompileError(f"{bundle.path / BUNDLE_JSON}: has no group scheme; pass one in `groups_file` or run "
                           f"`catsplit groups propose {bundle.path}` and review its proposal",
                           params=("groups_file",))
    labels = set(bundle.labels)
    if not any(name in labels or labels.intersection(members) for name, members in scheme.items()):
        raise CompileError(f"{source}: the group scheme names none of the labels of {bundle.path}")
    return scheme


def _key(words: Sequence[str], n: int) -> tuple[str, ...]:
    """The first n leading words, extended so that they end on a content word ("Pretending to put",
    not "Pretending to"): the base concept a label shares with the labels of its group."""
    n = min(n, len(words))
    while n < len(words) and _norm(words[n - 1]) in FUNCTION_WORDS:
        n += 1
    return tuple(_norm(w) for w in words[:n])


def _by_prefix(labels: Sequence[str], n: int, max_size: int) -> list[list[str]]:
    """Group labels by their key of n words; a group over max_size is split by longer keys."""
    by_key: dict[tuple[str, ...], list[str]] = {}
    for y in labels:
        by_key.setdefault(_key(_words(y), n), []).append(y)
    out = []
    for key, members in by_key.items():
        longer = max(len(_key(_words(y), len(key) + 1)) for y in members)
        if len(members) > max_size and longer > len(key):
            out += _by_prefix(members, len(key) + 1, max_size)
        else:
            out.append(members)
    return out


def _name(members: Sequence[str]) -> str:
    """A readable group name: the members' common base, else their texts joined (as SSv2-Split does)."""
    if len(members) == 1:
        return members[0]
    words = [_words(y) for y in members]
    n = _back_off(words[0], _common_prefix(words))
    if n >= 2:
        return " ".join(words[0][:n]).rstrip(_EDGE_PUNCT)
    return " and ".join(members)


def propose_groups(labels: Sequence[str], encoder=None, min_words: int = 2, max_size: int = 9,
                   join_threshold: float = 0.7) -> dict[str, list[str]]:
    """Suggest a group scheme for `labels`, for a person to review.

    1. Shared leading words: labels whose first `min_words` words (extended past function words) agree
       form a group ("Pushing something ...", "Pretending to put something ..."); a group of more than
       `max_size` labels is split by one more leading word, recursively.
    2. Text-embedding similarity (when `encoder` is given): the labels left alone are clustered with
       average linkage on the cosine similarity of their embeddings, with each other or into a group of
       step 1, while the best similarity is at least `join_threshold`. Two groups of step 1 are never
       merged. ("Squeezing something" joins "Pretending to squeeze something".)
    Labels still alone are groups of one. Group names are the members' common leading words, else the
    member texts joined by " and ".
    """
    labels = list(dict.fromkeys(labels))
    clusters = [(ms, len(ms) > 1) for ms in _by_prefix(labels, min_words, max_size)]  # (members, by words)
    if encoder is not None and len(labels) > 1:
        clusters = _join_by_embedding(clusters, labels, encoder, join_threshold)
    order = {y: i for i, y in enumerate(labels)}
    scheme: dict[str, list[str]] = {}
    for members, _ in sorted(clusters, key=lambda c: min(order[y] for y in c[0])):
        members = sorted(members, key=order.__getitem__)
        name = base = _name(members)
        n = 2
        while name in scheme:
            name, n = f"{base} ({n})", n + 1
        scheme[name] = members
    return scheme


def _join_by_embedding(clusters: list[tuple[list[str], bool]], labels: Sequence[str], encoder,
                       threshold: float) -> list[tuple[list[str], bool]]:
    emb = np.asarray(encoder.encode(labels), np.float64)
    emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    row = {y: i for i, y in enumerate(labels)}
    onehot = np.zeros((len(clusters), len(labels)))
    for i, (members, _) in enumerate(clusters):
        onehot[i, [row[y] for y in members]] = 1
    total = onehot @ (emb @ emb.T) @ onehot.T  # summed similarity between clusters' members
    size = onehot.sum(1)
    fixed = np.array([f for _, f in clusters])
    members = [list(m) for m, _ in clusters]
    alive = np.ones(len(clusters), bool)
    while True:
        link = total / np.outer(size, size)  # average linkage
        blocked = ~np.outer(alive, alive) | np.outer(fixed, fixed) | np.eye(len(size), dtype=bool)
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
