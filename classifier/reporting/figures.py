"""Validated records -> monthly counts per unit, region and nation -> the shares SKR reports.

Three input kinds (records.py, examples/reports/README.md): completed contacts (the
classifier's answers with region, unit and date), month-end waiting lists, and already
aggregated monthly counts. Which waits are left out of which figure, and the 30-day
limit, come from the rule set (rules/tables/exclusions.yaml, ruleset.yaml wait.limit_days):
this module holds no list of codes.

Every step is one pass over the records or the cells (linear in units and months).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from classifier.reporting.records import (
    AREAS,
    Collector,
    CompletedRecord,
    CountsRecord,
    Problem,
    Source,
    WaitingRecord,
    as_source,
    month_end,
    validate,
    wait_rules,
)

NATION = "Riket"
# How a report's "new on the list" was counted (definitions.md §7): from each wait (received in
# the month and still waiting at its end), or as aggregated counts gave it (SKR's proxy, waiting 0–30 days).
RECEIVED_IN_MONTH = "received_in_month_and_waiting_at_month_end"
AGGREGATED_PROXY = "aggregated_counts_waiting_0_30_days"


def round_half_up(value: Decimal | float, decimals: int = 0) -> Decimal:
    """Half up, as SKR prints its figures (Python's round() rounds half to even)."""
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def share(numerator: int, denominator: int, decimals: int = 1) -> Decimal | None:
    """numerator / denominator in percent, rounded half up to one decimal; None without a denominator."""
    if not denominator:
        return None
    return round_half_up(Decimal(numerator) * 100 / Decimal(denominator), decimals)


@dataclass
class Counts:
    """One month, one area, one unit (or region, or nation)."""

    numerator: int = 0  # completed within the limit, less the codes the rule set leaves out of the numerator
    denominator: int = 0  # completed, less the codes the rule set leaves out of the denominator
    completed_all: int = 0  # every completed measurement point, no code left out (the queue target counts these)
    waiting: int = 0  # waiting at month end, less the codes left out of the denominator
    waiting_le30: int = 0  # of whom waited at most the limit, less the codes left out of the numerator
    new_on_list: int = 0  # first visit: waiting at month end and received in the month, no code left out (queue)
    direct_starts: int = 0  # first visit: waits ended by a direct start (N2/N4), counted beside the queue ratio
    # whether the month's waiting figures were given (a waiting list, the month's own waits, a counts
    # row with `waiting`): only then does waiting 0 mean "nobody waiting" (definitions.md §7)
    waiting_given: bool = False
    # a first-visit month whose queue figures (new on the list, every completed first visit) are not known:
    # a counts row without them, or contacts without a waiting list. Unknown is not 0 (the queue target is
    # then not judged; its money is held), set by Table.rollup
    queue_unknown: bool = False
    # the direct starts were not given for (part of) this cell: a national delivery's completed and waiting
    # files have no column for them (docs/national.md §4). Unknown is shown as null, never as 0
    direct_starts_unknown: bool = False

    def add(self, other: Counts) -> None:
        for name in COUNT_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.waiting_given = self.waiting_given or other.waiting_given
        self.queue_unknown = self.queue_unknown or other.queue_unknown
        self.direct_starts_unknown = self.direct_starts_unknown or other.direct_starts_unknown

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in COUNT_FIELDS}
        if self.direct_starts_unknown:
            out["direct_starts"] = None
        out["share_within_30"] = _num(share(self.numerator, self.denominator))
        out["waiting_share_le30"] = _num(share(self.waiting_le30, self.waiting))
        return out


COUNT_FIELDS = tuple(f.name for f in fields(Counts)
                     if f.name not in ("waiting_given", "queue_unknown", "direct_starts_unknown"))


def _num(d: Decimal | None) -> float | None:
    return None if d is None else float(d)


Key = tuple[str, str, str, str]  # region, unit, area, "YYYY-MM"


@dataclass
class Rollup:
    """Counts at every level, made in one pass over the cells."""

    unit: dict[Key, Counts]
    region: dict[tuple[str, str, str], Counts]  # region, area, month
    nation: dict[tuple[str, str], Counts]  # area, month

    def of_region(self, region: str, area: str, month: str) -> Counts:
        return self.region.get((region, area, month)) or Counts()


@dataclass
class Table:
    """Counts by (region, unit, area, month). A cell exists once a record for it was read: it is reported."""

    cells: dict[Key, Counts] = field(default_factory=lambda: defaultdict(Counts))
    skipped: int = 0  # completed contacts that are no measurement point
    # measurement points without a wait start: where each is, so the region can correct it
    without_wait_start: list[dict[str, Any]] = field(default_factory=list)
    # how "new on the list" was counted: from waits (received in the month) and/or as given in counts
    new_on_list_basis: set[str] = field(default_factory=set)
    # every waiting patient of every cell is known (a waiting list was given, or the month derived who
    # waits): a cell without one has nobody waiting, not unknown figures
    waits_known: bool = False
    # completed contacts were given: every cell's completed first visits are known (0 where none)
    completed_known: bool = False
    # first-visit cells a counts row named: (gave new_on_list, gave completed_all), each over all its rows
    queue_counts: dict[Key, tuple[bool, bool]] = field(default_factory=dict)

    def note_queue_counts(self, key: Key, new_on_list: bool, completed_all: bool) -> None:
        """A first-visit counts row for `key`: whether it gave the queue's two figures (any row may give them)."""
        had_new, had_completed = self.queue_counts.get(key, (False, False))
        self.queue_counts[key] = (had_new or new_on_list, had_completed or completed_all)

    def queue_unknown(self, key: Key) -> bool:
        """Whether a first-visit cell's queue figures are unknown: never counted as 0 (they decide money)."""
        new_given, completed_given = self.queue_counts.get(key, (False, False))
        new_unknown = not self.waits_known and not new_given and (key in self.queue_counts or self.completed_known)
        completed_unknown = not self.completed_known and not completed_given and key in self.queue_counts
        return new_unknown or completed_unknown

    def cell(self, region: str, unit: str, area: str, month: str) -> Counts:
        return self.cells[(region, unit, area, month)]

    def count_completed(self, region: str, unit: str, area: str, month: str, numerator: bool | None,
                        denominator: bool | None, where: dict[str, Any]) -> None:
        """One measurement point, as the classifier's `wait` counts it (`where` locates one without a start)."""
        c = self.cell(region, unit, area, month)
        c.completed_all += 1
        if denominator is None:  # a measurement point without a start date: no wait to count
            self.without_wait_start.append({**where, "region": region, "unit": unit, "area": area, "month": month})
            return
        c.numerator += bool(numerator)
        c.denominator += bool(denominator)

    def count_waiting(self, region: str, unit: str, area: str, month: str, exclusion: str | None,
                      days: int, received_in_month: bool) -> None:
        """One patient waiting at month end, `days` waited so far (see add_waiting).

        New on the first-visit list (the queue target) = waiting at month end and received
        in the month (definitions.md §7): a care request of 30 January counts in January only.
        """
        rules = wait_rules(month)  # the rule set valid at the month's end (docs/rulesets.md)
        c = self.cell(region, unit, area, month)
        c.waiting_given = True
        c.waiting += rules.in_denominator(exclusion, days)
        c.waiting_le30 += rules.in_numerator(exclusion, days)
        if area == "first_visit" and received_in_month:
            c.new_on_list += 1
        self.new_on_list_basis.add(RECEIVED_IN_MONTH)

    def count_direct_start(self, region: str, unit: str, month: str) -> None:
        """A direct start (N2/N4) in the month: no first visit, counted beside the queue ratio."""
        self.cell(region, unit, "first_visit", month).direct_starts += 1

    def merge(self, other: Table) -> None:
        """Add another table's counts (tables of disjoint patients sum to the table of all of them)."""
        for key, c in other.cells.items():
            self.cells[key].add(c)
        self.skipped += other.skipped
        self.without_wait_start.extend(other.without_wait_start)
        self.new_on_list_basis |= other.new_on_list_basis
        self.waits_known = self.waits_known or other.waits_known
        self.completed_known = self.completed_known or other.completed_known
        for key, (new, done) in other.queue_counts.items():
            self.note_queue_counts(key, new, done)

    def rollup(self) -> Rollup:
        """Unit, region and national counts, in one pass (was one pass per row: quadratic in units)."""
        region: dict[tuple[str, str, str], Counts] = defaultdict(Counts)
        nation: dict[tuple[str, str], Counts] = defaultdict(Counts)
        for (r, _u, a, m), c in self.cells.items():
            c.waiting_given = c.waiting_given or self.waits_known
            c.queue_unknown = a == "first_visit" and self.queue_unknown((r, _u, a, m))
            region[(r, a, m)].add(c)
            nation[(a, m)].add(c)
        return Rollup(dict(self.cells), dict(region), dict(nation))

    def months(self) -> list[str]:
        return sorted({k[3] for k in self.cells})

    def regions(self) -> list[str]:
        return sorted({k[0] for k in self.cells})


def add_completed(table: Table, records: Source | Iterable[Mapping[str, Any]], found: Collector) -> None:
    """Classified contacts; the numerator and denominator are the classifier's own (its answer's `wait`)."""
    source = as_source("completed", records)
    table.completed_known = table.completed_known or bool(source.records)
    for where, rec in validate("completed", source, found):
        assert isinstance(rec, CompletedRecord)
        area = rec.area_or_type
        if area not in AREAS:
            table.skipped += 1
            continue
        table.count_completed(rec.region, rec.unit, area, rec.date.strftime("%Y-%m"), rec.numerator,
                              rec.denominator, {"source": source.name,
                                                ("line" if source.lines is not None else "index"): where})


def add_waiting(table: Table, records: Source | Iterable[Mapping[str, Any]], found: Collector) -> None:
    """Month-end waiting lists, counted with the rule set's limit and exclusion table.

    [interpretation] (rules/agreement.yaml `waiting`): a wait counts in `waiting` as a
    completed contact counts in the denominator, and in `waiting_le30` as one counts in
    the numerator, with the days waited so far (month end − wait start). New on the
    first-visit list (the queue target) counts every first-visit wait that started in the
    month, with no code left out, as its other side (completed first visits) leaves none out.
    """
    source = as_source("waiting", records)
    # A waiting list was given (a file, even an empty one, or records): a month without a patient on it has
    # nobody waiting. No list at all (an empty in-memory default) says nothing about who waits: unknown, never
    # "nobody waiting", which would meet alternative two's waiting half on a guess.
    table.waits_known = table.waits_known or bool(source.records) or source.lines is not None
    for _where, rec in validate("waiting", source, found):
        assert isinstance(rec, WaitingRecord)
        table.count_waiting(rec.region, rec.unit, rec.area, rec.month, rec.exclusion,
                            (month_end(rec.month) - rec.wait_start).days, rec.wait_start.strftime("%Y-%m") == rec.month)


def add_counts(table: Table, records: Source | Iterable[Mapping[str, Any]], found: Collector) -> None:
    """Already aggregated monthly counts (any of the Counts columns; unit defaults to the region)."""
    names = COUNT_FIELDS
    source = as_source("counts", records)
    for _where, rec in validate("counts", source, found):
        assert isinstance(rec, CountsRecord)
        c = table.cell(rec.region, rec.unit or rec.region, rec.area, rec.month)
        for n in names:
            value = getattr(rec, n)
            if value is not None:
                setattr(c, n, getattr(c, n) + value)
        if rec.new_on_list is not None:
            table.new_on_list_basis.add(AGGREGATED_PROXY)
        if rec.waiting is not None:
            c.waiting_given = True
        if rec.area == "first_visit":
            table.note_queue_counts((rec.region, rec.unit or rec.region, rec.area, rec.month),
                                    rec.new_on_list is not None, rec.completed_all is not None)


def check_cells(table: Table, found: Collector) -> None:
    """Parts within wholes after summing (counts records may give a month's figures in several rows)."""
    for (region, unit, area, month), c in table.cells.items():
        for part, whole in (("numerator", "denominator"), ("waiting_le30", "waiting")):
            if getattr(c, part) > getattr(c, whole):
                p, w = getattr(c, part), getattr(c, whole)
                found.add(Problem("counts", f"{region}/{unit}/{area}/{month}", part,
                                  f"{part} {p} is above {whole} {w} once the month's records are summed",
                                  message_sv=f"{part} {p} är större än {whole} {w} när månadens poster summeras"))


# The three kinds of input records, by the name the CLI option and the API field use.
ADDERS = {"completed": add_completed, "waiting": add_waiting, "counts": add_counts}


def table_from(sources: Mapping[str, Iterable[Source | Iterable[Mapping[str, Any]]]]) -> Table:
    """Every source of every kind into one Table; raises ReportInputError listing every bad record."""
    table = Table()
    found = Collector()
    for kind, add in ADDERS.items():
        for src in sources.get(kind, ()):
            add(table, src, found)
    if not found.problems:
        check_cells(table, found)
    found.raise_if_any()
    return table
