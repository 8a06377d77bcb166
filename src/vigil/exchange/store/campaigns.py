"""Campaigns: the campaign part of ``ExchangeStore``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import case, func, or_, select

from vigil.core.errors import InputError, NotFound, PermissionDenied
from vigil.core.ids import new_id
from vigil.core.tables import PAGE_SIZES, TablePage, check_table_args, clamp_page
from vigil.exchange import audit
from vigil.exchange.access import (
    Permission,
    Principal,
    require,
)
from vigil.exchange.models import (
    CampaignRow,
    CampaignShareRow,
    OrgRow,
)
from vigil.exchange.records import (
    TLP,
    Campaign,
    Marking,
    SignalKind,
)
from vigil.exchange.store.base import StoreBase, campaign_record
from vigil.exchange.values import normalize_value

# The campaign list's sortable columns (the ``sort`` parameter), each an SQL ordering: the
# organisation by its name as shown, the marking from least to most restricted (CLEAR .. RED).
CAMPAIGN_SORTS: dict[str, Any] = {
    "name": func.lower(CampaignRow.name),
    "organisation": OrgRow.name,
    "marking": case({t.value: n for n, t in enumerate(TLP)}, value=CampaignRow.tlp, else_=len(TLP)),
    "attribution": func.lower(func.coalesce(CampaignRow.attribution, "")),
    "created": CampaignRow.created_at,
}
CAMPAIGN_PAGE_SIZES = PAGE_SIZES


class CampaignsStore(StoreBase):
    """Campaigns: create, change (owner only), read what the caller may see."""

    def create_campaign(
        self,
        principal: Principal,
        name: str,
        *,
        marking: Marking,
        description: str | None = None,
        attribution: str | None = None,
        techniques: Sequence[str] = (),
    ) -> Campaign:
        require(principal, Permission.WRITE)
        clean = name.strip()
        if not clean or len(clean) > 300:
            raise InputError("campaign name must be 1-300 characters", field="name")
        tlp, shared = self._check_marking(marking)
        normalized = tuple(dict.fromkeys(normalize_value(SignalKind.TECHNIQUE, t)[1] for t in techniques))
        now = self.now()
        row = CampaignRow(
            id=new_id("campaign"),
            org_id=principal.org_id,
            name=clean,
            description=description,
            attribution=attribution,
            tlp=tlp.value,
            techniques=list(normalized),
            created_at=now,
            modified_at=now,
        )
        self.session.add(row)
        self.session.flush()
        self.session.add_all(CampaignShareRow(campaign_id=row.id, org_id=o) for o in shared)
        audit.record(
            self.session,
            principal,
            "campaign.create",
            at=now,
            target_type="campaign",
            target_id=row.id,
            tlp=tlp.value,
            detail={"name": clean},
        )
        self.session.flush()
        return campaign_record(row, shared)

    def update_campaign(
        self,
        principal: Principal,
        campaign_id: str,
        *,
        name: str | None = None,
        marking: Marking | None = None,
        description: str | None = None,
        attribution: str | None = None,
        techniques: Sequence[str] | None = None,
    ) -> Campaign:
        """Change a campaign of the caller's own organisation (fields left None stay as they are)."""
        require(principal, Permission.WRITE)
        row = self.session.scalar(
            select(CampaignRow)
            .where(CampaignRow.id == campaign_id, self._campaign_visible(principal))
            .with_for_update()
        )
        if row is None:
            raise NotFound(f"no campaign {campaign_id!r}", campaign=campaign_id)
        if row.org_id != principal.org_id:
            raise PermissionDenied("only the organisation that created a campaign may change it")
        if name is not None:
            clean = name.strip()
            if not clean or len(clean) > 300:
                raise InputError("campaign name must be 1-300 characters", field="name")
            row.name = clean
        if description is not None:
            row.description = description
        if attribution is not None:
            row.attribution = attribution
        if techniques is not None:
            row.techniques = list(
                dict.fromkeys(normalize_value(SignalKind.TECHNIQUE, t)[1] for t in techniques)
            )
        if marking is not None:
            tlp, shared = self._check_marking(marking)
            row.tlp = tlp.value
            for share in self.session.scalars(
                select(CampaignShareRow).where(CampaignShareRow.campaign_id == row.id)
            ):
                self.session.delete(share)
            self.session.flush()
            self.session.add_all(CampaignShareRow(campaign_id=row.id, org_id=o) for o in shared)
        row.modified_at = max(self.now(), row.modified_at + timedelta(microseconds=1))
        audit.record(
            self.session,
            principal,
            "campaign.update",
            at=row.modified_at,
            target_type="campaign",
            target_id=row.id,
            tlp=row.tlp,
        )
        self.session.flush()
        (result,) = self._campaigns([row])
        return result

    def list_campaigns(self, principal: Principal) -> list[Campaign]:
        require(principal, Permission.READ)
        rows = list(
            self.session.scalars(
                select(CampaignRow)
                .where(self._campaign_visible(principal))
                .order_by(CampaignRow.created_at, CampaignRow.id)
            )
        )
        result = self._campaigns(rows)
        self._audit_reads(
            principal, "campaign.read", [("campaign", c.id, c.marking.tlp, c.org_id) for c in result]
        )
        return result

    def page_campaigns(
        self,
        principal: Principal,
        *,
        text: str | None = None,
        sort: str = "created",
        order: str = "desc",
        page: int = 1,
        size: int = 25,
    ) -> TablePage[Campaign]:
        """One page of the campaigns ``principal`` may see, sorted and counted in SQL (the same
        visibility clause as ``list_campaigns``), with the same read audit for the page's rows.
        ``text`` matches name, description and attribution. Ties sort by id."""
        require(principal, Permission.READ)
        check_table_args(CAMPAIGN_SORTS, sort, order, page, size, CAMPAIGN_PAGE_SIZES)
        where = [self._campaign_visible(principal)]
        if text:
            needle = text.lower()
            cols = (CampaignRow.name, CampaignRow.description, CampaignRow.attribution)
            where.append(or_(*(func.lower(c).contains(needle, autoescape=True) for c in cols)))
        total = int(self.session.scalar(select(func.count()).select_from(CampaignRow).where(*where)) or 0)
        page = clamp_page(total, page, size)
        key = CAMPAIGN_SORTS[sort]
        rows = list(
            self.session.scalars(
                select(CampaignRow)
                .outerjoin(OrgRow, OrgRow.id == CampaignRow.org_id)
                .where(*where)
                .order_by(key.asc() if order == "asc" else key.desc(), CampaignRow.id)
                .limit(size)
                .offset((page - 1) * size)
            )
        )
        items = self._campaigns(rows)
        self._audit_reads(
            principal, "campaign.read", [("campaign", c.id, c.marking.tlp, c.org_id) for c in items]
        )
        return TablePage(items=items, total=total, page=page, size=size, sort=sort, order=order)

    def get_campaign(self, principal: Principal, campaign_id: str) -> Campaign:
        require(principal, Permission.READ)
        row = self.session.scalar(
            select(CampaignRow).where(CampaignRow.id == campaign_id, self._campaign_visible(principal))
        )
        if row is None:
            raise NotFound(f"no campaign {campaign_id!r}", campaign=campaign_id)
        (result,) = self._campaigns([row])
        self._audit_reads(
            principal, "campaign.read", [("campaign", result.id, result.marking.tlp, result.org_id)]
        )
        return result
