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

`catsplit.compiler.propose` suggests a scheme for labels that have none (for the user to review).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

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
