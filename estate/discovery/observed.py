"""What a source reports, in the inventory's terms, before anything is written (adapters build these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from estate.discovery.choices import ObjectKind

# The region of a result that read the whole source at once (a cluster's every namespace): what is
# missing from it is gone wherever it was, not only in the regions the result happens to name.
EVERYWHERE = "*"


@dataclass
class SeenImage:
    version: str
    reference: str


@dataclass
class SeenInstance:
    external_id: str
    state: str = "running"
    address: str = ""
    zone: str = ""
    image_version: str | None = None
    launched_at: datetime | None = None


@dataclass
class SeenComponent:
    """One component as its source sees it; `key` is the source's own id, stable across runs."""

    key: str
    kind: ObjectKind
    region: str
    name: str
    category: str
    mode: str
    provider: str = ""
    holds_state: bool = False
    managed: bool = False
    engine: str = ""
    engine_version: str = ""
    desired_instances: int | None = None
    image: SeenImage | None = None
    cluster: str = ""  # the cluster's name at the source; a bastion's only
    role: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    instances: list[SeenInstance] = field(default_factory=list)
    # Pending vendor maintenance (patching.deadlines.VendorAction); None when it could not be read.
    vendor_actions: list | None = None


@dataclass
class RegionResult:
    region: str
    components: list[SeenComponent] = field(default_factory=list)
    error: str = ""
