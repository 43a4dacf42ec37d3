"""What a reconcile found: drift by kind, what was repaired, and a sample of the items."""
from collections import Counter
from dataclasses import dataclass, field

SAMPLE = 50


@dataclass
class Report:
    """What drifted (by kind), what was repaired, and a sample of the items."""

    repair: bool = True
    drift: Counter = field(default_factory=Counter)
    repaired: int = 0
    busy: int = 0
    skipped_domains: list[str] = field(default_factory=list)
    checked: int = 0
    sample: list[dict] = field(default_factory=list)

    def add(self, domain: str, name: str | None, kind: str) -> None:
        self.drift[kind] += 1
        if len(self.sample) < SAMPLE:
            self.sample.append({"domain": domain, "name": name, "kind": kind})

    @property
    def total(self) -> int:
        return sum(self.drift.values())

    def as_dict(self) -> dict:
        return {"checked": self.checked, "drift": dict(self.drift), "total": self.total,
                "repaired": self.repaired, "busy": self.busy,
                "skipped_domains": self.skipped_domains, "sample": self.sample}
