"""List and contact imports, off the request: a CSV that may hold many thousands of rows is checked and written
here (a ListImport without a campaign is a contact import)."""

from __future__ import annotations

from flask import current_app

from callcenter.redis_conn import get_redis
from callcenter.services import campaign_lists, contact_import, csv_import
from callcenter.services.campaigns import get_campaign
from workers.jobs import job_session


def run_list_import(import_id: int) -> None:
    """Import a pending list (idempotent: a finished import is left alone, rows already written are not repeated)."""
    with job_session() as session:
        entry = csv_import.get_import(session, import_id)
        if entry.campaign_id is None:
            contact_import.run(session, get_redis(), import_id, region=current_app.config["DEFAULT_REGION"])
            return
        campaign = get_campaign(session, entry.campaign_id)
        region = campaign.default_region or current_app.config["DEFAULT_REGION"]
        csv_import.run_import(session, get_redis(), import_id, campaign_lists.CampaignList(campaign.id),
                              region=region)
